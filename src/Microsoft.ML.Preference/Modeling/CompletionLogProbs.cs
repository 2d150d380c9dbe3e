using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>The log-probs of the completion tokens of a batch, as <see cref="LogProbs.Completion"/> returns them.</summary>
/// <param name="TokenLogProbs">[B, T−1] float32: log p(labels[:, t+1] | ≤ t), 0 where labels[:, t+1] is ignored.</param>
/// <param name="Sums">[B] float32: Σ over the completion (TRL's chosen_logps / rejected_logps).</param>
/// <param name="Counts">[B] int64: completion tokens per row (TRL's size_completion).</param>
internal sealed record CompletionLogProbs(Tensor TokenLogProbs, Tensor Sums, Tensor Counts)
{
    /// <summary>Sums / Counts: the per-token average log-prob (ORPO's input, IPO's normalisation); NaN for an empty row.</summary>
    public Tensor Averages() => Sums / Counts.to_type(Sums.dtype);
}
