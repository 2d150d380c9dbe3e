namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// The reward shift δ of the <c>bco_pair</c> loss: TRL v0.27.2's <c>RunningMoments</c> (trl/trainer/utils.py), fed
/// once per step with the batch mean reward mean(cat(βΔc, βΔr)). The update happens before δ is read, so the
/// current batch counts. δ is a plain number: no gradient flows through it.
/// </summary>
/// <remarks>
/// TRL hands <c>update</c> a single scalar per step (the batch mean), so its sample count is 1 and its variance 0;
/// with the initial count 1e-24 the first update sets the mean to that value, and after n steps the mean is the
/// plain average of the n step means. The arithmetic follows TRL's dtypes: the batch mean is cast to float32, the
/// increment is computed in float32 and added to a double mean. Not thread-safe: one instance per trainer.
/// </remarks>
internal sealed class BcoRunningMoments
{
    /// <summary>Starts from <paramref name="state"/>, or TRL's initial state when null.</summary>
    /// <param name="mode">TRL's running mean (default) or the exponential moving average.</param>
    /// <param name="emaDecay">α of <see cref="BcoShiftMode.ExponentialMovingAverage"/>, in [0, 1); ignored otherwise.</param>
    /// <param name="state">A state saved by <see cref="GetState"/>.</param>
    /// <exception cref="ArgumentException">α is out of range or the state is not finite / has a negative count.</exception>
    public BcoRunningMoments(BcoShiftMode mode = BcoShiftMode.RunningMean, double emaDecay = 0.99, BcoRunningMomentsState? state = null)
    {
        if (!Enum.IsDefined(mode))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Not a defined BcoShiftMode.");
        if (!(emaDecay >= 0 && emaDecay < 1))
            throw new ArgumentException($"The BCO EMA decay α must be in [0, 1), not {emaDecay}.", nameof(emaDecay));
        Mode = mode;
        EmaDecay = emaDecay;
        Restore(state ?? BcoRunningMomentsState.Initial);
    }

    /// <summary>How δ is formed.</summary>
    public BcoShiftMode Mode { get; }

    /// <summary>α of the exponential moving average.</summary>
    public double EmaDecay { get; }

    /// <summary>The current shift δ (TRL's <c>running.mean</c>).</summary>
    public double Mean { get; private set; }

    /// <summary>The running variance of the step means.</summary>
    public double Variance { get; private set; }

    /// <summary>The number of updates so far plus TRL's initial 1e-24.</summary>
    public double Count { get; private set; }

    /// <summary>TRL's <c>running.std</c>: √(Variance·Count/(Count − 1)), infinite after the first update as in TRL.</summary>
    public double StandardDeviation => Math.Sqrt(Variance * Count / (Count - 1));

    /// <summary>The state as plain numbers, for a checkpoint.</summary>
    public BcoRunningMomentsState GetState() => new(Mean, Variance, Count);

    /// <summary>Replaces the state with one from <see cref="GetState"/>.</summary>
    /// <exception cref="ArgumentException">A value is not finite, or the count is negative.</exception>
    public void Restore(BcoRunningMomentsState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!double.IsFinite(state.Mean) || !double.IsFinite(state.Variance) || !double.IsFinite(state.Count) ||
            state.Count < 0 || state.Variance < 0)
            throw new ArgumentException($"Not a valid BCO running-moments state: {state}.", nameof(state));
        Mean = state.Mean;
        Variance = state.Variance;
        Count = state.Count;
    }

    /// <summary>Feeds one step's batch mean reward and returns the new δ (the value the loss must use).</summary>
    /// <exception cref="ArgumentException"><paramref name="batchMeanReward"/> is not finite.</exception>
    public double Update(double batchMeanReward)
    {
        if (!double.IsFinite(batchMeanReward))
            throw new ArgumentException($"The BCO batch mean reward is {batchMeanReward}; the log-probs are not finite.", nameof(batchMeanReward));
        // TRL: xs_mean.float() — the reward is a float32 number from here on.
        float x = (float)batchMeanReward;
        if (Mode == BcoShiftMode.ExponentialMovingAverage)
            UpdateExponential(x);
        else
            UpdateRunning(x);
        return Mean;
    }

    private void UpdateRunning(float x)
    {
        // TRL's RunningMoments.update with xs = one scalar: xs_count = 1, xs_var = 0. `delta` and the increment
        // are float32 tensors there (float32 tensor minus a Python float stays float32).
        const float xsCount = 1f;
        double totCount = Count + xsCount;
        float delta = x - (float)Mean;
        float oldSum = (float)(Variance * Count) + delta * delta * (float)Count * xsCount / (float)totCount;
        float newVar = oldSum / (float)totCount; // new_sum = xs_var * xs_count = 0
        Mean += delta * xsCount / (float)totCount;
        Variance = newVar;
        Count = totCount;
    }

    private void UpdateExponential(float x)
    {
        // Before any update (count < 1) δ starts at the first mean instead of decaying from 0, so the shift is
        // not biased towards zero for the first ~1/(1−α) steps.
        if (Count < 1)
        {
            Mean = x;
            Variance = 0;
        }
        else
        {
            double a = EmaDecay, d = x - Mean;
            Mean += (1 - a) * d;
            Variance = a * (Variance + (1 - a) * d * d); // exponentially weighted variance
        }
        Count += 1;
    }
}
