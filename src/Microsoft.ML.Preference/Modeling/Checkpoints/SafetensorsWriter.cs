using System.Buffers;
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using TorchSharp;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// Writes safetensors files in the layout that Hugging Face's <c>safetensors</c> library reads: a u64
/// little-endian header length, a compact JSON header padded with spaces to a multiple of 8 bytes, then the
/// tensors' raw little-endian bytes, contiguous and in the order given.
/// </summary>
internal static class SafetensorsWriter
{
    /// <summary>The metadata written when the caller gives none; transformers refuses files without <c>format</c>.</summary>
    public static IReadOnlyDictionary<string, string> DefaultMetadata { get; } =
        new Dictionary<string, string> { ["format"] = "pt" }.AsReadOnly();

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/>, atomically (temporary file + rename).</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="tensors">Names and tensors, written in this order; any device, any layout.</param>
    /// <param name="metadata">
    /// The <c>__metadata__</c> entries. <c>format: pt</c> is added when absent, because transformers refuses
    /// to load a safetensors checkpoint without it.
    /// </param>
    /// <exception cref="ArgumentException">A name is empty, reserved or repeated.</exception>
    /// <exception cref="NotSupportedException">A tensor's dtype has no safetensors name.</exception>
    public static void Write(
        string path,
        IEnumerable<(string Name, torch.Tensor Tensor)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        Write(path, tensors.ToList(), metadata, floatingPointDType: null);
    }

    /// <summary>
    /// The writer behind <see cref="Write(string, IEnumerable{ValueTuple{string, torch.Tensor}}, IReadOnlyDictionary{string, string}?)"/>;
    /// <paramref name="floatingPointDType"/>, when given, is the dtype every floating-point tensor is stored in
    /// (integer and bool tensors keep theirs, as Hugging Face's <c>torch_dtype</c> does). <paramref name="materialize"/>,
    /// when given, makes the values of each (name, tensor) just before its bytes are written (the tensor may then be a
    /// meta tensor that only gives the header its shape and dtype); what it returns is disposed after writing.
    /// </summary>
    internal static void Write(
        string path,
        IReadOnlyList<(string Name, torch.Tensor Tensor)> tensors,
        IReadOnlyDictionary<string, string>? metadata,
        torch.ScalarType? floatingPointDType,
        Func<string, torch.Tensor, torch.Tensor>? materialize = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var entries = Describe(tensors, floatingPointDType);
        var header = BuildHeader(entries, metadata);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var (entry, source) in entries.Zip(tensors))
            {
                using var scope = torch.NewDisposeScope();
                // A streamed save gives meta tensors (shapes only) and makes each one's values here, one at a time.
                var bytes = materialize is null ? source.Tensor.detach() : materialize(source.Name, source.Tensor);
                if (bytes.dtype != entry.ScalarType)
                    bytes = bytes.to(entry.ScalarType);
                bytes = bytes.cpu().contiguous();
                long before = stream.Position;
                TensorBytes.WriteTo(bytes, stream);
                if (stream.Position - before != entry.ByteLength)
                    throw new InvalidOperationException($"Internal error: tensor '{entry.Name}' wrote {stream.Position - before} bytes, {entry.ByteLength} expected.");
            }
        });
    }

    /// <summary>The header entries (dtype, shape, offsets) the tensors will get, validated.</summary>
    internal static List<SafetensorsTensorInfo> Describe(IReadOnlyList<(string Name, torch.Tensor Tensor)> tensors, torch.ScalarType? floatingPointDType)
    {
        var entries = new List<SafetensorsTensorInfo>(tensors.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            if (string.IsNullOrEmpty(name))
                throw new ArgumentException("A tensor name is null or empty.", nameof(tensors));
            if (name == "__metadata__")
                throw new ArgumentException("'__metadata__' is reserved by the safetensors format and cannot name a tensor.", nameof(tensors));
            if (!names.Add(name))
                throw new ArgumentException($"The tensor name '{name}' is given twice.", nameof(tensors));
            ArgumentNullException.ThrowIfNull(tensor);

            var type = StoredType(tensor.dtype, floatingPointDType);
            long bytes = checked(tensor.numel() * SafetensorsDTypes.ElementSize(type));
            entries.Add(new SafetensorsTensorInfo(name, SafetensorsDTypes.NameOf(type), type, Array.AsReadOnly(tensor.shape), offset, offset + bytes));
            offset += bytes;
        }
        return entries;
    }

    /// <summary>The dtype a tensor is stored in: <paramref name="floatingPointDType"/> for floats, else its own.</summary>
    internal static torch.ScalarType StoredType(torch.ScalarType type, torch.ScalarType? floatingPointDType) =>
        floatingPointDType is { } target && torch.is_floating_point(type) ? target : type;

    /// <summary>The JSON header, padded with spaces so that the data starts at a multiple of 8 bytes.</summary>
    private static byte[] BuildHeader(IReadOnlyList<SafetensorsTensorInfo> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in metadata ?? DefaultMetadata)
            merged[key] = value;
        merged.TryAdd("format", "pt");

        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping: this is not HTML, and names such as "a+b" should read back byte-identical.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            foreach (var (key, value) in merged)
                json.WriteString(key, value);
            json.WriteEndObject();
            foreach (var e in entries)
            {
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", e.DType);
                json.WriteStartArray("shape");
                foreach (var d in e.Shape)
                    json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(e.DataBegin);
                json.WriteNumberValue(e.DataEnd);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }

        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }
}
