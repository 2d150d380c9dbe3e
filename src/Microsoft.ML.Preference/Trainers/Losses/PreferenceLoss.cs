using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// A weighted combination of preference losses, computed as TRL v0.27.2's <c>DPOTrainer</c> does: every term's
/// per-example losses are weighted and summed per example, then averaged over the batch. With the default options
/// it is MPO's loss, 0.8·sigmoid + 0.2·bco_pair + 1.0·sft.
/// </summary>
/// <remarks>
/// Everything is torch operations in the dtype of the inputs, so autograd reaches the policy log-probs; the
/// reference log-probs are detached. The instance is stateful only through <see cref="RunningMoments"/> (the
/// bco_pair shift), which a trainer saves and restores with its checkpoints. Not thread-safe.
/// </remarks>
internal sealed class PreferenceLoss
{
    /// <summary>Validates <paramref name="options"/> (MPO's when null) and starts the BCO shift fresh or from <paramref name="runningMoments"/>.</summary>
    /// <exception cref="ArgumentException">An option is out of range, or the running moments use another <see cref="BcoShiftMode"/>.</exception>
    public PreferenceLoss(PreferenceLossOptions? options = null, BcoRunningMoments? runningMoments = null)
    {
        Options = options ?? new PreferenceLossOptions();
        Options.Validate();
        if (runningMoments is not null && runningMoments.Mode != Options.BcoShift)
            throw new ArgumentException(
                $"The running moments use {runningMoments.Mode} but {nameof(PreferenceLossOptions)}.{nameof(PreferenceLossOptions.BcoShift)} is {Options.BcoShift}.",
                nameof(runningMoments));
        RunningMoments = runningMoments ?? new BcoRunningMoments(Options.BcoShift, Options.BcoEmaDecay);
    }

    /// <summary>The validated options.</summary>
    public PreferenceLossOptions Options { get; }

    /// <summary>The bco_pair shift δ and its state (updated by every <see cref="Compute"/> with a bco_pair term).</summary>
    public BcoRunningMoments RunningMoments { get; }

    /// <summary>
    /// The loss of one batch. With a bco_pair term this updates <see cref="RunningMoments"/> (once per call, as one
    /// TRL step does) and reads the batch mean reward back to the CPU.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes or dtypes do not fit, or a needed token count is not positive.</exception>
    public PreferenceLossOutput Compute(PreferenceLossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        long batch = CheckShapes(inputs);
        var o = Options;

        // Intermediates die with this scope; the outputs are moved to the caller's. The autograd graph keeps what
        // backward needs alive on the native side, so disposing handles here is safe.
        using var scope = NewDisposeScope();
        var pair = PairFor(inputs, o.LengthNormalizesLogProbs);

        // TRL: chosen_rewards = beta * (chosen_logps - ref_chosen_logps).detach(), for every loss type.
        var chosenRewards = (o.Beta * pair.ChosenLogRatios()).detach();
        var rejectedRewards = (o.Beta * pair.RejectedLogRatios()).detach();

        double? bcoDelta = null;
        if (o.Terms.Any(t => t.Type == PreferenceLossType.BcoPair))
        {
            // TRL: running.update(cat(β·Δc, β·Δr).mean().detach()); delta = running.mean — after the update.
            double batchMean = torch.cat([chosenRewards, rejectedRewards], 0).mean().to_type(ScalarType.Float64).item<double>();
            bcoDelta = RunningMoments.Update(batchMean);
        }

        Tensor? losses = null;
        var terms = new List<PreferenceLossTermOutput>(o.Terms.Count);
        foreach (var term in o.Terms)
        {
            var l = term.Type == PreferenceLossType.Sft
                ? SftNll(inputs).expand(batch)
                : DpoLossFormulas.Compute(term.Type, pair, o, bcoDelta ?? 0.0);
            // TRL: losses = losses + _losses * weight (sum per example, then one mean).
            var weighted = l * term.Weight;
            losses = losses is null ? weighted : losses + weighted;
            terms.Add(new PreferenceLossTermOutput(term, l.MoveToOuterDisposeScope(), l.mean().MoveToOuterDisposeScope()));
        }

        double totalWeight = o.TotalWeight;
        return new PreferenceLossOutput(
            losses!.MoveToOuterDisposeScope(),
            losses!.mean().MoveToOuterDisposeScope(),
            terms,
            chosenRewards.MoveToOuterDisposeScope(),
            rejectedRewards.MoveToOuterDisposeScope(),
            (chosenRewards * totalWeight).MoveToOuterDisposeScope(),
            (rejectedRewards * totalWeight).MoveToOuterDisposeScope(),
            bcoDelta);
    }

    /// <summary>
    /// The log-probs every pair formula sees. With an ipo term TRL's concatenated_forward divides every summed
    /// log-prob by its completion length (policy and reference alike, since the reference goes through the same
    /// function), and then all terms (and the rewards) see the averages; sft does not, it has its own NLL.
    /// </summary>
    private static PairLogProbs PairFor(PreferenceLossInputs inputs, bool lengthNormalize)
    {
        Tensor pc = inputs.PolicyChosenLogps, pr = inputs.PolicyRejectedLogps;
        Tensor rc = inputs.RefChosenLogps.detach(), rr = inputs.RefRejectedLogps.detach();
        if (!lengthNormalize)
            return new PairLogProbs(pc, pr, rc, rr);
        var nc = PositiveCounts(inputs.ChosenTokenCounts, pc, nameof(PreferenceLossInputs.ChosenTokenCounts));
        var nr = PositiveCounts(inputs.RejectedTokenCounts, pc, nameof(PreferenceLossInputs.RejectedTokenCounts));
        return new PairLogProbs(pc / nc, pr / nr, rc / nc, rr / nr);
    }

    /// <summary>
    /// TRL's nll_loss: cross-entropy over the chosen half with mean reduction, i.e. −Σ log p / N over all chosen
    /// completion tokens of the batch (a token mean, not a mean of per-sequence means).
    /// </summary>
    private static Tensor SftNll(PreferenceLossInputs inputs)
    {
        var like = inputs.PolicyChosenLogps;
        var sum = inputs.SftLogProbSum ?? like.sum();
        var count = PositiveCounts(inputs.SftTokenCount ?? inputs.ChosenTokenCounts.sum(), like,
            inputs.SftTokenCount is null ? "sum of " + nameof(PreferenceLossInputs.ChosenTokenCounts) : nameof(PreferenceLossInputs.SftTokenCount));
        if (sum.numel() != 1)
            throw new ArgumentException($"{nameof(PreferenceLossInputs.SftLogProbSum)} must be a scalar, not of shape [{string.Join(", ", sum.shape)}].");
        return -sum.reshape() / count.reshape();
    }

    /// <summary>Counts in the log-probs' dtype and device; a zero count would turn a division into inf/NaN silently.</summary>
    private static Tensor PositiveCounts(Tensor counts, Tensor like, string name)
    {
        var c = counts.to_type(like.dtype).to(like.device);
        if (c.le(0).any().item<bool>())
            throw new ArgumentException($"{name} must be > 0 everywhere (a completion with no tokens has no log-prob to normalise).");
        return c;
    }

    private static long CheckShapes(PreferenceLossInputs inputs)
    {
        var pc = inputs.PolicyChosenLogps ?? throw new ArgumentException($"{nameof(PreferenceLossInputs.PolicyChosenLogps)} is null.");
        if (pc.dim() != 1 || pc.shape[0] == 0)
            throw new ArgumentException($"{nameof(PreferenceLossInputs.PolicyChosenLogps)} must be a non-empty vector [B], not of shape [{string.Join(", ", pc.shape)}].");
        if (!pc.is_floating_point())
            throw new ArgumentException($"{nameof(PreferenceLossInputs.PolicyChosenLogps)} must be floating point (float32 from a model), not {pc.dtype}.");
        long batch = pc.shape[0];
        foreach (var (t, name) in new[]
                 {
                     (inputs.PolicyRejectedLogps, nameof(PreferenceLossInputs.PolicyRejectedLogps)),
                     (inputs.RefChosenLogps, nameof(PreferenceLossInputs.RefChosenLogps)),
                     (inputs.RefRejectedLogps, nameof(PreferenceLossInputs.RefRejectedLogps)),
                     (inputs.ChosenTokenCounts, nameof(PreferenceLossInputs.ChosenTokenCounts)),
                     (inputs.RejectedTokenCounts, nameof(PreferenceLossInputs.RejectedTokenCounts)),
                 })
        {
            if (t is null)
                throw new ArgumentException($"{name} is null.");
            if (t.dim() != 1 || t.shape[0] != batch)
                throw new ArgumentException($"{name} must have shape [{batch}] like {nameof(PreferenceLossInputs.PolicyChosenLogps)}, not [{string.Join(", ", t.shape)}].");
        }
        foreach (var (t, name) in new[]
                 {
                     (inputs.PolicyRejectedLogps, nameof(PreferenceLossInputs.PolicyRejectedLogps)),
                     (inputs.RefChosenLogps, nameof(PreferenceLossInputs.RefChosenLogps)),
                     (inputs.RefRejectedLogps, nameof(PreferenceLossInputs.RefRejectedLogps)),
                 })
        {
            if (t.dtype != pc.dtype)
                throw new ArgumentException($"{name} is {t.dtype} but {nameof(PreferenceLossInputs.PolicyChosenLogps)} is {pc.dtype}; give all log-probs in one dtype.");
        }
        return batch;
    }
}
