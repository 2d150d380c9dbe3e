namespace Microsoft.ML.Preference.Generation;

/// <summary>How text is decoded. Defaults are greedy decoding of at most 512 new tokens.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens generated per row (the prompt is not counted). Default 512.</summary>
    public int MaxNewTokens { get; init; } = 512;

    /// <summary>0 (default) decodes greedily; above 0, logits are divided by it and a token is sampled.</summary>
    public double Temperature { get; init; }

    /// <summary>Sample only among the k most likely tokens (0 = no limit). Applies when sampling.</summary>
    public int TopK { get; init; }

    /// <summary>Sample only from the smallest set whose probability reaches p (1 = no limit). Applies when sampling.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Seed of the sampling generator: the same seed, prompts and model give the same text.</summary>
    public long Seed { get; init; }

    /// <summary>Token ids that end a row (added to the model's end-of-sequence and template separator ids).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    /// <summary>Strings that end a row when the decoded text ends with one of them (removed from the returned text).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Whether decoding samples (Temperature above 0).</summary>
    public bool Sampling => Temperature > 0;

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is out of range.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 1)
            throw new ArgumentException($"GenerationOptions.MaxNewTokens must be at least 1, not {MaxNewTokens}.");
        if (Temperature < 0 || double.IsNaN(Temperature))
            throw new ArgumentException($"GenerationOptions.Temperature must be 0 (greedy) or positive, not {Temperature}.");
        if (TopK < 0)
            throw new ArgumentException($"GenerationOptions.TopK must be 0 (off) or positive, not {TopK}.");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentException($"GenerationOptions.TopP must be in (0, 1], not {TopP}.");
    }
}
