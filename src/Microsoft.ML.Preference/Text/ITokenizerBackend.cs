namespace Microsoft.ML.Preference.Text;

/// <summary>The subword model under a <see cref="ModelTokenizer"/>: byte-level BPE or SentencePiece.</summary>
internal interface ITokenizerBackend
{
    /// <summary>Appends the ids of <paramref name="text"/>, added tokens included, without BOS/EOS.</summary>
    void Encode(string text, List<int> ids);

    /// <summary>Decodes ids that are all known (added tokens included) to text, added tokens as their content.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The subword vocabulary (token string as stored: "Ġworld", "▁wor"), added tokens not included.</summary>
    IReadOnlyDictionary<string, int> Vocabulary { get; }
}
