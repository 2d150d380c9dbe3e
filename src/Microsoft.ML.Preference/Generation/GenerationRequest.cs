using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Generation;

/// <summary>
/// One prompt to continue: its token ids (already templated, ending with the generation prompt) and the
/// tiles of its images [tiles, 3, S, S] (null for a text-only prompt). The prompt must hold exactly
/// num_image_token <c>&lt;IMG_CONTEXT&gt;</c> ids per tile.
/// </summary>
/// <param name="PromptIds">The templated prompt's token ids.</param>
/// <param name="Tiles">The tiles of its images, or null.</param>
/// <param name="Samples">
/// How many continuations to draw from this prompt (default 1). Its images are encoded and its prompt prefilled once;
/// the KV cache is then copied to the K rows, which decode on their own. K samples of one prompt give exactly the
/// tokens that K copies of the request would (the rows of a prefill do not depend on each other), in less time.
/// </param>
/// <param name="Seed">
/// The seed of this request's own sampling generator, so that requests batched together draw what each would draw
/// alone; null (default) draws every row of the call from one generator seeded by <see cref="GenerationOptions.Seed"/>.
/// </param>
public sealed record GenerationRequest(IReadOnlyList<int> PromptIds, Tensor? Tiles = null, int Samples = 1, long? Seed = null);

/// <summary>Why a row stopped.</summary>
public enum StopReason
{
    /// <summary>An end-of-sequence or separator token was generated (not included in the output).</summary>
    StopToken,
    /// <summary>The text reached a stop string (removed from the text).</summary>
    StopString,
    /// <summary>MaxNewTokens were generated.</summary>
    Length,
}

/// <summary>What one row produced.</summary>
/// <param name="TokenIds">The generated ids, without the stop token.</param>
/// <param name="Text">The decoded text (empty when no tokenizer was given), without a stop string.</param>
/// <param name="Reason">Why it stopped.</param>
public sealed record GenerationResult(IReadOnlyList<int> TokenIds, string Text, StopReason Reason);

/// <summary>A token as it is generated, for streaming.</summary>
/// <param name="Row">Index of the row in the results: the requests' samples in order (request 0's K samples first).</param>
/// <param name="TokenId">The new token.</param>
/// <param name="TextDelta">The text it adds (may be empty until a multi-byte character completes).</param>
public readonly record struct GeneratedToken(int Row, int TokenId, string TextDelta);
