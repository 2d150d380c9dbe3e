using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// The four [B] log-prob vectors one <c>dpo_loss</c> call sees, already length-normalised when an ipo term asks
/// for it, reference detached. Derived quantities are computed on demand in TRL's operation order, so float32
/// results round as TRL's do.
/// </summary>
internal readonly record struct PairLogProbs(Tensor PolicyChosen, Tensor PolicyRejected, Tensor RefChosen, Tensor RefRejected)
{
    /// <summary>Δc = pc − rc.</summary>
    public Tensor ChosenLogRatios() => PolicyChosen - RefChosen;

    /// <summary>Δr = pr − rr.</summary>
    public Tensor RejectedLogRatios() => PolicyRejected - RefRejected;

    /// <summary>z = (pc − pr) − (rc − rr): TRL's <c>logits = logratios - ref_logratios</c>.</summary>
    public Tensor Logits() => (PolicyChosen - PolicyRejected) - (RefChosen - RefRejected);
}
