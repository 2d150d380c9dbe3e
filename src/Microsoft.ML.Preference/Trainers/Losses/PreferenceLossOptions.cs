using System.Globalization;

namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// Which preference losses to combine, with what weights, and their hyper-parameters: TRL v0.27.2's DPOConfig
/// fields <c>loss_type</c>, <c>loss_weights</c>, <c>beta</c>, <c>label_smoothing</c> and <c>discopop_tau</c>.
/// The defaults are MPO's: sigmoid 0.8 + bco_pair 0.2 + sft 1.0 with β = 0.1.
/// </summary>
public sealed record PreferenceLossOptions
{
    /// <summary>MPO's combination (Wang et al. 2024, §3.3): preference 0.8, quality 0.2, generation 1.0.</summary>
    public static IReadOnlyList<PreferenceLossTerm> MpoTerms { get; } = Array.AsReadOnly(
    [
        new PreferenceLossTerm(PreferenceLossType.Sigmoid, 0.8),
        new PreferenceLossTerm(PreferenceLossType.BcoPair, 0.2),
        new PreferenceLossTerm(PreferenceLossType.Sft, 1.0),
    ]);

    /// <summary>The weighted terms, summed per example. Default: <see cref="MpoTerms"/>.</summary>
    public IReadOnlyList<PreferenceLossTerm> Terms { get; init; } = MpoTerms;

    /// <summary>β, the temperature of every loss (the KL strength). Default 0.1.</summary>
    public double Beta { get; init; } = 0.1;

    /// <summary>
    /// ε, the label-noise probability used by <c>sigmoid</c> (cDPO), <c>robust</c>, <c>exo_pair</c>, <c>aot</c> and
    /// <c>aot_pair</c>; in [0, 0.5). Default 0. <c>exo_pair</c> replaces 0 by 1e-3 for itself only (TRL also writes 1e-3
    /// back into its config, so later terms of later steps see 1e-3; that side effect is not reproduced).
    /// </summary>
    public double LabelSmoothing { get; init; }

    /// <summary>τ of <c>discopop</c>, the temperature of its logistic/exponential blend. Default 0.05.</summary>
    public double DiscoPopTau { get; init; } = 0.05;

    /// <summary>How the <c>bco_pair</c> shift δ is formed. Default: TRL's running mean.</summary>
    public BcoShiftMode BcoShift { get; init; } = BcoShiftMode.RunningMean;

    /// <summary>α of <see cref="BcoShiftMode.ExponentialMovingAverage"/>, in [0, 1). Default 0.99.</summary>
    public double BcoEmaDecay { get; init; } = 0.99;

    /// <summary>MPO's defaults (the same as <c>new PreferenceLossOptions()</c>).</summary>
    public static PreferenceLossOptions Mpo => new();

    /// <summary>One loss with weight 1, e.g. plain DPO: <c>Single(PreferenceLossType.Sigmoid)</c>.</summary>
    public static PreferenceLossOptions Single(PreferenceLossType type, double beta = 0.1, double labelSmoothing = 0.0) =>
        new() { Terms = [new PreferenceLossTerm(type, 1.0)], Beta = beta, LabelSmoothing = labelSmoothing };

    /// <summary>
    /// TRL's configuration: <c>loss_type</c> names and optional <c>loss_weights</c> (every weight 1 when null), e.g.
    /// <c>FromTrl(["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0])</c>.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name, or a weight list of another length.</exception>
    public static PreferenceLossOptions FromTrl(IReadOnlyList<string> lossType, IReadOnlyList<double>? lossWeights = null, double beta = 0.1)
    {
        ArgumentNullException.ThrowIfNull(lossType);
        if (lossWeights is not null && lossWeights.Count != lossType.Count)
            throw new ArgumentException(
                $"loss_weights has {lossWeights.Count} entries but loss_type has {lossType.Count}; give one weight per loss type.",
                nameof(lossWeights));
        var terms = lossType.Select((name, i) =>
            new PreferenceLossTerm(PreferenceLossTypeNames.Parse(name), lossWeights?[i] ?? 1.0)).ToArray();
        return new PreferenceLossOptions { Terms = terms, Beta = beta };
    }

    /// <summary>
    /// Reads "sigmoid:0.8,bco_pair:0.2,sft:1" (a missing ":weight" means 1), the form command lines and
    /// <see cref="PreferenceLossTerm.ToString"/> use. Separators: ',' ';' or '+'.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name or an unreadable weight.</exception>
    public static IReadOnlyList<PreferenceLossTerm> ParseTerms(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var terms = new List<PreferenceLossTerm>();
        foreach (var part in spec.Split([',', ';', '+'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int colon = part.IndexOf(':', StringComparison.Ordinal);
            string name = colon < 0 ? part : part[..colon];
            double weight = 1.0;
            if (colon >= 0 && !double.TryParse(part[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out weight))
                throw new ArgumentException($"Loss term '{part}': '{part[(colon + 1)..]}' is not a number.", nameof(spec));
            terms.Add(new PreferenceLossTerm(PreferenceLossTypeNames.Parse(name), weight));
        }
        return terms;
    }

    /// <summary>True when an <c>ipo</c> term makes every summed log-prob length-normalised first (TRL semantics).</summary>
    public bool LengthNormalizesLogProbs => Terms.Any(t => t.Type == PreferenceLossType.Ipo);

    /// <summary>
    /// True when every term is <c>sft</c>: the loss reads neither the rejected responses nor a reference, so a
    /// trainer can skip both (TRL's SFTTrainer does the same job on the chosen responses alone).
    /// </summary>
    public bool IsSftOnly => Terms.All(t => t.Type == PreferenceLossType.Sft);

    /// <summary>The sum of the weights: the factor TRL's logged rewards carry for a combination.</summary>
    public double TotalWeight => Terms.Sum(t => t.Weight);

    /// <summary>Checks every option and throws with a message that names the option and the fix.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public void Validate()
    {
        const string Prefix = nameof(PreferenceLossOptions);
        if (Terms is null || Terms.Count == 0)
            throw new ArgumentException(
                $"{Prefix}.{nameof(Terms)} is empty: give at least one loss, e.g. MPO's sigmoid:0.8, bco_pair:0.2, sft:1.0.",
                nameof(Terms));
        foreach (var term in Terms)
        {
            if (!Enum.IsDefined(term.Type))
                throw new ArgumentException($"{Prefix}.{nameof(Terms)}: {(int)term.Type} is not a PreferenceLossType.", nameof(Terms));
            if (!double.IsFinite(term.Weight) || term.Weight < 0)
                throw new ArgumentException(
                    $"{Prefix}.{nameof(Terms)}: the weight of '{term.Type.ToTrlName()}' is {term.Weight}; weights must be finite and >= 0.",
                    nameof(Terms));
        }
        var duplicate = Terms.GroupBy(t => t.Type).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException(
                $"{Prefix}.{nameof(Terms)} lists '{duplicate.Key.ToTrlName()}' {duplicate.Count()} times; give each loss once with the summed weight " +
                "(a repeated bco_pair would also update its running mean twice per step).", nameof(Terms));
        if (!(TotalWeight > 0))
            throw new ArgumentException($"{Prefix}.{nameof(Terms)}: every weight is 0, so the loss would be constant; give one a positive weight.", nameof(Terms));
        if (!double.IsFinite(Beta) || Beta <= 0)
            throw new ArgumentException($"{Prefix}.{nameof(Beta)} = {Beta}; β must be finite and > 0 (TRL's default is 0.1).", nameof(Beta));
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 0.5))
        {
            string why = Terms.Any(t => t.Type == PreferenceLossType.Robust) && LabelSmoothing == 0.5
                ? " The robust loss divides by 1 − 2ε, which is 0 at ε = 0.5."
                : " ε is the probability that a pair's labels are flipped; at 0.5 or above the preference is no longer learned (or is inverted).";
            throw new ArgumentException($"{Prefix}.{nameof(LabelSmoothing)} = {LabelSmoothing}; it must be in [0, 0.5).{why}", nameof(LabelSmoothing));
        }
        if (!double.IsFinite(DiscoPopTau) || DiscoPopTau <= 0)
            throw new ArgumentException($"{Prefix}.{nameof(DiscoPopTau)} = {DiscoPopTau}; τ must be finite and > 0 (default 0.05).", nameof(DiscoPopTau));
        if (!Enum.IsDefined(BcoShift))
            throw new ArgumentException($"{Prefix}.{nameof(BcoShift)}: {(int)BcoShift} is not a BcoShiftMode.", nameof(BcoShift));
        if (!(BcoEmaDecay >= 0 && BcoEmaDecay < 1))
            throw new ArgumentException($"{Prefix}.{nameof(BcoEmaDecay)} = {BcoEmaDecay}; α must be in [0, 1).", nameof(BcoEmaDecay));
    }
}
