using System.Text;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// The few facts of a SentencePiece <c>tokenizer.model</c> (a protobuf <c>ModelProto</c>) that Microsoft.ML.Tokenizers
/// does not expose: each piece's type (to find the user-defined symbols, which SentencePiece always emits as one
/// piece), the model type and pad id. The library parses the same bytes for everything else; its protobuf classes
/// are internal, hence this reader of the handful of fields needed.
/// </summary>
internal sealed class SentencePieceModelFile
{
    /// <summary>sentencepiece_model.proto <c>SentencePiece.Type</c>.</summary>
    public enum PieceType
    {
        /// <summary>An ordinary subword.</summary>
        Normal = 1,
        /// <summary>&lt;unk&gt;.</summary>
        Unknown = 2,
        /// <summary>&lt;s&gt;, &lt;/s&gt;: never produced from text by SentencePiece.</summary>
        Control = 3,
        /// <summary>Always one piece wherever its text occurs (InternLM2's &lt;|im_start|&gt;…).</summary>
        UserDefined = 4,
        /// <summary>Reserved, never produced.</summary>
        Unused = 5,
        /// <summary>&lt;0xNN&gt; byte-fallback pieces.</summary>
        Byte = 6,
    }

    /// <summary>Every piece, index = id.</summary>
    public required IReadOnlyList<(string Piece, PieceType Type)> Pieces { get; init; }

    /// <summary>TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char (proto default 1).</summary>
    public int ModelType { get; init; } = 1;

    /// <summary>TrainerSpec.pad_id (proto default -1: none).</summary>
    public int PadId { get; init; } = -1;

    /// <summary>NormalizerSpec.name ("identity", "nmt_nfkc"…), null when the file does not say.</summary>
    public string? NormalizerName { get; init; }

    /// <summary>Parses <paramref name="bytes"/>, the content of <paramref name="path"/>.</summary>
    public static SentencePieceModelFile Read(byte[] bytes, string path)
    {
        try
        {
            var pieces = new List<(string, PieceType)>();
            int modelType = 1, padId = -1;
            string? normalizerName = null;
            var r = new ProtoReader(bytes, 0, bytes.Length);
            while (!r.AtEnd)
            {
                var (field, wire) = r.Tag();
                if (field == 1 && wire == 2)
                {
                    pieces.Add(ReadPiece(r.Message()));
                }
                else if (field == 2 && wire == 2)
                {
                    var t = r.Message();
                    while (!t.AtEnd)
                    {
                        var (f, w) = t.Tag();
                        if (f == 3 && w == 0) modelType = (int)t.Varint();
                        else if (f == 43 && w == 0) padId = (int)(long)t.Varint();  // int32: negatives are 10-byte varints
                        else t.Skip(w);
                    }
                }
                else if (field == 3 && wire == 2)
                {
                    var n = r.Message();
                    while (!n.AtEnd)
                    {
                        var (f, w) = n.Tag();
                        if (f == 1 && w == 2) normalizerName = n.String();
                        else n.Skip(w);
                    }
                }
                else
                {
                    r.Skip(wire);
                }
            }
            if (pieces.Count == 0)
                throw new FormatException("it has no pieces");
            return new SentencePieceModelFile { Pieces = pieces, ModelType = modelType, PadId = padId, NormalizerName = normalizerName };
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or IndexOutOfRangeException)
        {
            throw new TokenizerFileException(path, $"is not a SentencePiece model ({ex.Message})", ex);
        }
    }

    private static (string, PieceType) ReadPiece(ProtoReader r)
    {
        string piece = "";
        var type = PieceType.Normal;
        while (!r.AtEnd)
        {
            var (f, w) = r.Tag();
            if (f == 1 && w == 2) piece = r.String();
            else if (f == 3 && w == 0) type = (PieceType)(int)r.Varint();
            else r.Skip(w);
        }
        return (piece, type);
    }

    /// <summary>A protobuf wire-format reader over a byte range: varints, length-delimited fields, skipping.</summary>
    private sealed class ProtoReader(byte[] bytes, int start, int end)
    {
        private int _pos = start;

        public bool AtEnd => _pos >= end;

        public (int Field, int Wire) Tag()
        {
            ulong tag = Varint();
            return ((int)(tag >> 3), (int)(tag & 7));
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= end)
                    throw new FormatException("a varint runs past the end");
                byte b = bytes[_pos++];
                value |= (ulong)(b & 0x7f) << shift;
                if ((b & 0x80) == 0)
                    return value;
            }
            throw new FormatException("a varint is longer than 10 bytes");
        }

        public ProtoReader Message()
        {
            int length = Length();
            var sub = new ProtoReader(bytes, _pos, _pos + length);
            _pos += length;
            return sub;
        }

        public string String()
        {
            int length = Length();
            var s = Encoding.UTF8.GetString(bytes, _pos, length);
            _pos += length;
            return s;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Advance(8); break;
                case 2: Advance(Length()); break;
                case 5: Advance(4); break;
                default: throw new FormatException($"unexpected protobuf wire type {wire} at byte {_pos}");
            }
        }

        private int Length()
        {
            ulong length = Varint();
            if (length > (ulong)(end - _pos))
                throw new FormatException($"a field of {length} bytes runs past the end at byte {_pos}");
            return (int)length;
        }

        private void Advance(int n)
        {
            if (n > end - _pos)
                throw new FormatException($"a field runs past the end at byte {_pos}");
            _pos += n;
        }
    }
}
