namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>How <see cref="BcoRunningMoments"/> turns the per-step mean rewards into the BCO reward shift δ.</summary>
public enum BcoShiftMode
{
    /// <summary>
    /// TRL v0.27.2's <c>RunningMoments</c>: δ is the running mean of all per-step batch mean rewards so far, the
    /// current step included (equal weights). What MPO and InternVL used; the default.
    /// </summary>
    RunningMean,

    /// <summary>
    /// Not in TRL: an exponential moving average, δ ← α·δ + (1 − α)·m for the step's batch mean m, so that old
    /// steps fade out when rewards drift. The first step sets δ = m (no pull towards the initial 0).
    /// </summary>
    ExponentialMovingAverage,
}
