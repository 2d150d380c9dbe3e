using TorchSharp;
using static TorchSharp.torch;
using F = global::TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>The result of <see cref="OrpoLoss.Compute"/>; tensors live in the caller's dispose scope.</summary>
/// <param name="LogOdds">log(odds(chosen)) − log(odds(rejected)) [B], odds(y) = P/(1−P) with P = exp(mean token log-prob).</param>
/// <param name="LogSigmoidLogOdds">logσ(log-odds) [B], TRL's <c>ratio</c>.</param>
/// <param name="Losses">β·logσ(log-odds) [B]: TRL's per-example "losses", a log-likelihood that is subtracted.</param>
/// <param name="MeanLosses">mean(<paramref name="Losses"/>), a scalar.</param>
/// <param name="Loss">nll − mean(β·logσ(log-odds)), the scalar to call backward on.</param>
/// <param name="ChosenRewards">β·(mean chosen token log-prob) [B], detached, as ORPOTrainer logs them.</param>
/// <param name="RejectedRewards">β·(mean rejected token log-prob) [B], detached.</param>
internal sealed record OrpoLossOutput(
    Tensor LogOdds, Tensor LogSigmoidLogOdds, Tensor Losses, Tensor MeanLosses, Tensor Loss, Tensor ChosenRewards, Tensor RejectedRewards);

/// <summary>
/// ORPO (Hong et al. 2024), reference-free: TRL v0.27.2 <c>ORPOTrainer.odds_ratio_loss</c> (trl/experimental/orpo).
/// Not a <see cref="PreferenceLossType"/>, because its inputs differ from dpo_loss's: per-token average
/// completion log-probs and no reference model.
/// </summary>
internal static class OrpoLoss
{
    /// <summary>
    /// loss = nll − mean(β·logσ(lo)), lo = (ac − ar) − (log1mexp(ac) − log1mexp(ar)).
    /// </summary>
    /// <param name="averageChosenLogps">ac [B]: mean log-prob per chosen completion token (sum / count), with gradient.</param>
    /// <param name="averageRejectedLogps">ar [B]: the same for the rejected completions.</param>
    /// <param name="chosenNll">The SFT term, a scalar: in ORPOTrainer the cross-entropy over the chosen sequences' prompt and completion tokens.</param>
    /// <param name="beta">λ of the paper (TRL's beta, default 0.1).</param>
    /// <exception cref="ArgumentException">Shapes differ, or β is not positive.</exception>
    public static OrpoLossOutput Compute(Tensor averageChosenLogps, Tensor averageRejectedLogps, Tensor chosenNll, double beta = 0.1)
    {
        ArgumentNullException.ThrowIfNull(averageChosenLogps);
        ArgumentNullException.ThrowIfNull(averageRejectedLogps);
        ArgumentNullException.ThrowIfNull(chosenNll);
        if (averageChosenLogps.dim() != 1 || !averageChosenLogps.shape.SequenceEqual(averageRejectedLogps.shape))
            throw new ArgumentException(
                $"ORPO needs two vectors [B] of equal length, not [{string.Join(", ", averageChosenLogps.shape)}] and [{string.Join(", ", averageRejectedLogps.shape)}].");
        if (chosenNll.numel() != 1)
            throw new ArgumentException($"The ORPO NLL must be a scalar, not of shape [{string.Join(", ", chosenNll.shape)}].", nameof(chosenNll));
        if (!double.IsFinite(beta) || beta <= 0)
            throw new ArgumentException($"ORPO β = {beta}; it must be finite and > 0 (default 0.1).", nameof(beta));

        using var scope = NewDisposeScope();
        var logOdds = (averageChosenLogps - averageRejectedLogps) - (Log1MExp(averageChosenLogps) - Log1MExp(averageRejectedLogps));
        var ratio = F.logsigmoid(logOdds);
        var losses = beta * ratio;
        var mean = losses.mean();
        var loss = chosenNll.reshape() - mean;
        return new OrpoLossOutput(
            logOdds.MoveToOuterDisposeScope(),
            ratio.MoveToOuterDisposeScope(),
            losses.MoveToOuterDisposeScope(),
            mean.MoveToOuterDisposeScope(),
            loss.MoveToOuterDisposeScope(),
            (beta * averageChosenLogps).detach().MoveToOuterDisposeScope(),
            (beta * averageRejectedLogps).detach().MoveToOuterDisposeScope());
    }

    /// <summary>
    /// log(1 − exp(x)) for x &lt; 0 without cancellation (Mächler 2012): log1p(−exp(x)) below −ln 2, log(−expm1(x))
    /// above. Each branch gets its input clamped into its own range, so the branch torch.where discards cannot
    /// produce an inf whose zero-weighted gradient would still be NaN.
    /// </summary>
    public static Tensor Log1MExp(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        const double MinusLn2 = -0.69314718055994530942;
        using var scope = NewDisposeScope();
        var small = torch.log1p(-x.clamp_max(MinusLn2).exp());
        var large = torch.log(-torch.expm1(x.clamp_min(MinusLn2)));
        return torch.where(x.lt(MinusLn2), small, large).MoveToOuterDisposeScope();
    }
}
