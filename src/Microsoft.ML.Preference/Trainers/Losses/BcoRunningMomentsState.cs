namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// The state of <see cref="BcoRunningMoments"/> as plain numbers, for checkpoints. A fresh state is
/// (<see cref="Mean"/> 0, <see cref="Variance"/> 1, <see cref="Count"/> 1e-24), TRL's initial values.
/// </summary>
/// <param name="Mean">The shift δ: the running mean (or EMA) of the per-step batch mean rewards.</param>
/// <param name="Variance">The running (population) variance of those means; not used by the loss, kept for parity with TRL.</param>
/// <param name="Count">How many updates have been seen, plus TRL's initial 1e-24.</param>
internal sealed record BcoRunningMomentsState(double Mean, double Variance, double Count)
{
    /// <summary>TRL's initial state: mean 0, variance 1, count 1e-24 (a tiny count, so the first update wins outright).</summary>
    public static BcoRunningMomentsState Initial { get; } = new(0.0, 1.0, 1e-24);
}
