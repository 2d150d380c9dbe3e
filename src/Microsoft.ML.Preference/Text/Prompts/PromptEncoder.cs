namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>
/// What <see cref="PromptBuilder"/> needs from a tokenizer: text → ids (added tokens as single ids, no BOS), the BOS
/// to put first (or none), the padding id and InternVL's image marker ids. Built from a <see cref="ModelTokenizer"/>,
/// or from any function, which lets tests run the builder on a fixture's synthetic vocabulary.
/// </summary>
internal sealed class PromptEncoder
{
    private readonly Func<string, IReadOnlyList<int>> _encode;

    /// <summary>Creates an encoder from a function.</summary>
    /// <param name="encode">Text → ids, with added tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;img&gt;</c>…) as single ids, without BOS/EOS.</param>
    /// <param name="padId">The id padding rows of a batch.</param>
    /// <param name="bosId">The id to put before every sequence, or null for none (Qwen2/Qwen3).</param>
    /// <param name="imageStartId">The id of <c>&lt;img&gt;</c>, or null when the tokenizer has none (then prompts cannot have images).</param>
    /// <param name="imageEndId">The id of <c>&lt;/img&gt;</c>, or null.</param>
    /// <param name="imageContextId">The id of <c>&lt;IMG_CONTEXT&gt;</c>, or null.</param>
    public PromptEncoder(Func<string, IReadOnlyList<int>> encode, int padId, int? bosId = null,
        int? imageStartId = null, int? imageEndId = null, int? imageContextId = null)
    {
        ArgumentNullException.ThrowIfNull(encode);
        _encode = encode;
        PadId = padId;
        BosId = bosId;
        ImageStartId = imageStartId;
        ImageEndId = imageEndId;
        ImageContextId = imageContextId;
    }

    /// <summary>
    /// The encoder of a model folder's tokenizer: BOS when transformers would add it (<see cref="ModelTokenizer.AddBosByDefault"/>,
    /// true for InternLM2, false for Qwen), image ids from its added tokens.
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="padId">The padding id; null takes the tokenizer's <see cref="ModelTokenizer.PadId"/>.</param>
    /// <exception cref="ArgumentException">Neither gives a padding id.</exception>
    public static PromptEncoder FromTokenizer(ModelTokenizer tokenizer, int? padId = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        int pad = padId ?? tokenizer.PadId ?? throw new ArgumentException(
            $"The tokenizer of {tokenizer.FolderPath} names no pad token (tokenizer_config.json pad_token); pass padId " +
            "(InternVL pads Qwen2 models with <|endoftext|> and InternLM2 models with </s>).", nameof(padId));
        var added = tokenizer.AddedTokens;
        return new PromptEncoder(text => tokenizer.Encode(text), pad, tokenizer.AddBosByDefault ? tokenizer.BosId : null,
            added.ImageStartId, added.ImageEndId, added.ImageContextId);
    }

    /// <summary>The padding id.</summary>
    public int PadId { get; }

    /// <summary>The id every sequence starts with, or null.</summary>
    public int? BosId { get; }

    /// <summary>The id of <c>&lt;img&gt;</c>, or null.</summary>
    public int? ImageStartId { get; }

    /// <summary>The id of <c>&lt;/img&gt;</c>, or null.</summary>
    public int? ImageEndId { get; }

    /// <summary>The id of <c>&lt;IMG_CONTEXT&gt;</c>, or null.</summary>
    public int? ImageContextId { get; }

    /// <summary>Encodes text (no BOS).</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _encode(text);
    }
}
