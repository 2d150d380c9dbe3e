namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>
/// One tokenized row, unpadded: a training row (prompt + response, labels on the response) or an inference prompt
/// (ending with the generation prompt, no labels).
/// </summary>
internal sealed class TokenizedSequence
{
    private readonly int[] _inputIds;
    private readonly int[] _labels;

    internal TokenizedSequence(int[] inputIds, int[] labels, int promptLength, int imageContextTokens, bool endsTurn, TruncationReport truncation)
    {
        _inputIds = inputIds;
        _labels = labels;
        PromptLength = promptLength;
        ImageContextTokens = imageContextTokens;
        EndsTurn = endsTurn;
        Truncation = truncation;
        LabelCount = labels.Count(l => l != PromptBuilder.IgnoreIndex);
    }

    /// <summary>The token ids.</summary>
    public IReadOnlyList<int> InputIds => _inputIds;

    /// <summary>
    /// <see cref="InputIds"/> where the loss counts, <see cref="PromptBuilder.IgnoreIndex"/> (-100) elsewhere: the
    /// response tokens and the end-of-turn token after them are labelled; BOS, prompt, images and a separator's
    /// trailing newline are not.
    /// </summary>
    public IReadOnlyList<int> Labels => _labels;

    /// <summary>All ones (the row is unpadded); padding sets zeros.</summary>
    public IReadOnlyList<int> AttentionMask => Enumerable.Repeat(1, _inputIds.Length).ToArray();

    /// <summary>The number of ids.</summary>
    public int Length => _inputIds.Length;

    /// <summary>The number of ids before the response: BOS and the prompt up to and including the generation prompt.</summary>
    public int PromptLength { get; }

    /// <summary>The number of labelled ids.</summary>
    public int LabelCount { get; }

    /// <summary>The number of <c>&lt;IMG_CONTEXT&gt;</c> ids: num_image_token · all tiles.</summary>
    public int ImageContextTokens { get; }

    /// <summary>Whether the response ends with the end-of-turn token (false for prompts and for responses cut short).</summary>
    public bool EndsTurn { get; }

    /// <summary>What truncation removed.</summary>
    public TruncationReport Truncation { get; }

    internal int[] RawIds => _inputIds;

    internal int[] RawLabels => _labels;
}
