using System.Text;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// Everything a byte-level BPE tokenizer.json defines that <c>BpeOptions</c> needs, checked and in the form the
/// library takes (merges as "a b" strings, the pre-tokenizer as one regex).
/// </summary>
internal sealed class ByteLevelBpeDefinition
{
    /// <summary>The file it came from.</summary>
    public required string Path { get; init; }

    /// <summary>model.vocab.</summary>
    public required List<KeyValuePair<string, int>> Vocabulary { get; init; }

    /// <summary>model.merges, in rank order, each pair joined by one space.</summary>
    public required List<string> Merges { get; init; }

    /// <summary>The pre-tokenizer's split regex (Qwen2's, or GPT-2's for a plain ByteLevel pre-tokenizer).</summary>
    public required string SplitPattern { get; init; }

    /// <summary>The Unicode normalisation forms applied before pre-tokenisation, in order (Qwen2: NFC).</summary>
    public required IReadOnlyList<NormalizationForm> Normalization { get; init; }

    /// <summary>model.unk_token (Qwen: none).</summary>
    public string? UnknownToken { get; init; }

    /// <summary>model.continuing_subword_prefix (Qwen: none).</summary>
    public string? ContinuingSubwordPrefix { get; init; }

    /// <summary>model.end_of_word_suffix (Qwen: none).</summary>
    public string? EndOfWordSuffix { get; init; }

    /// <summary>model.fuse_unk.</summary>
    public bool FuseUnknownTokens { get; init; }

    /// <summary>The file's added_tokens.</summary>
    public required List<AddedToken> AddedTokens { get; init; }
}
