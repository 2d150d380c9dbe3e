namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// One term of a weighted loss combination: TRL's <c>loss_type[k]</c> with <c>loss_weights[k]</c>. The combined
/// per-example loss is Σ_k Weight_k · l_k,i (TRL sums per example first, then averages over the batch).
/// </summary>
/// <param name="Type">The loss.</param>
/// <param name="Weight">Its weight; must be finite and non-negative.</param>
public readonly record struct PreferenceLossTerm(PreferenceLossType Type, double Weight)
{
    /// <summary>"sigmoid:0.8" style, as <see cref="PreferenceLossOptions.ParseTerms"/> reads it.</summary>
    public override string ToString() =>
        $"{Type.ToTrlName()}:{Weight.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}";
}
