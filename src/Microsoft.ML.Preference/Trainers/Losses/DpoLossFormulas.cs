using static TorchSharp.torch;
using F = global::TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// The per-example formulas of TRL v0.27.2 <c>DPOTrainer.dpo_loss</c>, one method per loss type, written in TRL's
/// operation order so that float32 rounding matches. <c>sft</c> is not here: it needs the NLL, not the pair log-probs.
/// </summary>
internal static class DpoLossFormulas
{
    /// <summary>EXO's ε when the configured one is 0 (TRL: <c>if self.label_smoothing == 0: self.label_smoothing = 1e-3</c>).</summary>
    internal const double ExoZeroLabelSmoothing = 1e-3;

    /// <summary>Per-example losses [B] of <paramref name="type"/>.</summary>
    /// <param name="type">Any type but <see cref="PreferenceLossType.Sft"/>.</param>
    /// <param name="p">The pair log-probs.</param>
    /// <param name="o">β, ε and τ.</param>
    /// <param name="bcoDelta">δ for bco_pair (already updated for this step).</param>
    public static Tensor Compute(PreferenceLossType type, in PairLogProbs p, PreferenceLossOptions o, double bcoDelta) => type switch
    {
        PreferenceLossType.Sigmoid => Sigmoid(p.Logits(), o.Beta, o.LabelSmoothing),
        PreferenceLossType.Hinge => F.relu(1 - o.Beta * p.Logits()),
        PreferenceLossType.Ipo => (p.Logits() - 1 / (2 * o.Beta)).square(),
        PreferenceLossType.ExoPair => Exo(p.Logits(), o.Beta, o.LabelSmoothing == 0 ? ExoZeroLabelSmoothing : o.LabelSmoothing),
        PreferenceLossType.NcaPair => Nca(p.ChosenLogRatios() * o.Beta, p.RejectedLogRatios() * o.Beta),
        PreferenceLossType.Robust => Robust(p.Logits(), o.Beta, o.LabelSmoothing),
        PreferenceLossType.BcoPair => BcoPair(p, o.Beta, bcoDelta),
        PreferenceLossType.SppoHard => SppoHard(p, o.Beta),
        PreferenceLossType.Aot => Sigmoid(SortedDifference(p.PolicyChosen - p.PolicyRejected, p.RefChosen - p.RefRejected), o.Beta, o.LabelSmoothing),
        PreferenceLossType.AotPair => Sigmoid(SortedDifference(p.ChosenLogRatios(), p.RejectedLogRatios()), o.Beta, o.LabelSmoothing),
        PreferenceLossType.ApoZero => (1 - (o.Beta * p.ChosenLogRatios()).sigmoid()) + (o.Beta * p.RejectedLogRatios()).sigmoid(),
        PreferenceLossType.ApoDown => (o.Beta * p.ChosenLogRatios()).sigmoid()
                                      + (1 - (o.Beta * (p.ChosenLogRatios() - p.RejectedLogRatios())).sigmoid()),
        PreferenceLossType.DiscoPop => DiscoPop(p.Logits() * o.Beta, o.DiscoPopTau),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "No pair formula for this loss type."),
    };

    /// <summary>sigmoid / cDPO, also the inner loss of both AOT variants: −(1−ε)·logσ(βx) − ε·logσ(−βx).</summary>
    private static Tensor Sigmoid(Tensor x, double beta, double eps) =>
        -F.logsigmoid(beta * x) * (1 - eps) - F.logsigmoid(-beta * x) * eps;

    /// <summary>Robust DPO: an unbiased estimator under ε label noise, hence the 1/(1 − 2ε) and the + sign.</summary>
    private static Tensor Robust(Tensor z, double beta, double eps) =>
        (-F.logsigmoid(beta * z) * (1 - eps) + F.logsigmoid(-beta * z) * eps) / (1 - 2 * eps);

    /// <summary>EXO: the reverse KL between the model's σ(βz) and the label distribution (1−ε, ε).</summary>
    private static Tensor Exo(Tensor z, double beta, double eps) =>
        (beta * z).sigmoid() * (F.logsigmoid(beta * z) - Math.Log(1 - eps))
        + (-beta * z).sigmoid() * (F.logsigmoid(-beta * z) - Math.Log(eps));

    /// <summary>NCA on βΔc, βΔr (TRL names these chosen_rewards, rejected_rewards).</summary>
    private static Tensor Nca(Tensor chosenRewards, Tensor rejectedRewards) =>
        -F.logsigmoid(chosenRewards) - 0.5 * F.logsigmoid(-chosenRewards) - 0.5 * F.logsigmoid(-rejectedRewards);

    /// <summary>BCO pair: chosen pushed above δ, rejected below it.</summary>
    private static Tensor BcoPair(in PairLogProbs p, double beta, double delta) =>
        -F.logsigmoid(beta * p.ChosenLogRatios() - delta) - F.logsigmoid(-(beta * p.RejectedLogRatios() - delta));

    private static Tensor SppoHard(in PairLogProbs p, double beta) =>
        (p.ChosenLogRatios() - 0.5 / beta).square() + (p.RejectedLogRatios() + 0.5 / beta).square();

    /// <summary>AOT: sort both sides over the batch (dim 0) and pair them by rank; the gradient follows the sort.</summary>
    private static Tensor SortedDifference(Tensor a, Tensor b) =>
        a.sort(dim: 0).Values - b.sort(dim: 0).Values;

    /// <summary>DiscoPOP: logistic loss for small margins, exponential for large ones, blended by σ(βz/τ).</summary>
    private static Tensor DiscoPop(Tensor logits, double tau)
    {
        var modulation = (logits / tau).sigmoid();
        return -F.logsigmoid(logits) * (1 - modulation) + (-logits).exp() * modulation;
    }
}
