using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// What <see cref="PreferenceLoss.Compute"/> reads for a batch of B pairs: summed completion log-probs (see
/// <see cref="Modeling.LogProbs.Completion"/>) of the policy and of the frozen reference model, and the completion
/// token counts. All [B] tensors on one device; log-probs floating point (float32 as a model gives them).
/// </summary>
/// <param name="PolicyChosenLogps">Policy Σ log p(chosen completion) [B]; gradients flow back through it.</param>
/// <param name="PolicyRejectedLogps">Policy Σ log p(rejected completion) [B]; gradients flow back through it.</param>
/// <param name="RefChosenLogps">Reference Σ log p(chosen completion) [B]; detached inside.</param>
/// <param name="RefRejectedLogps">Reference Σ log p(rejected completion) [B]; detached inside.</param>
/// <param name="ChosenTokenCounts">Completion tokens of each chosen answer [B] (any numeric dtype, > 0).</param>
/// <param name="RejectedTokenCounts">Completion tokens of each rejected answer [B] (any numeric dtype, > 0).</param>
internal sealed record PreferenceLossInputs(
    Tensor PolicyChosenLogps,
    Tensor PolicyRejectedLogps,
    Tensor RefChosenLogps,
    Tensor RefRejectedLogps,
    Tensor ChosenTokenCounts,
    Tensor RejectedTokenCounts)
{
    /// <summary>
    /// For <c>sft</c>: Σ of the policy's log-probs over every chosen completion token of the batch (a scalar, with
    /// gradient). Null means Σ <see cref="PolicyChosenLogps"/>, which is the same number when those are summed
    /// completion log-probs; give it explicitly when the chosen sequences carry tokens the pair log-probs leave out.
    /// </summary>
    public Tensor? SftLogProbSum { get; init; }

    /// <summary>For <c>sft</c>: the number of tokens in <see cref="SftLogProbSum"/> (scalar). Null means Σ <see cref="ChosenTokenCounts"/>.</summary>
    public Tensor? SftTokenCount { get; init; }
}
