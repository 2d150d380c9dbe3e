namespace Microsoft.ML.Preference.Text;

/// <summary>The subword model a <see cref="ModelTokenizer"/> loaded.</summary>
public enum TokenizerKind
{
    /// <summary>Byte-level BPE (Qwen2, Qwen2.5, Qwen3): from tokenizer.json, or vocab.json + merges.txt.</summary>
    ByteLevelBpe,

    /// <summary>SentencePiece BPE with byte fallback (InternLM2): from tokenizer.model.</summary>
    SentencePiece,
}
