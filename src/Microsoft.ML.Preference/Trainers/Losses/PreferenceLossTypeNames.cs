namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// Converts between <see cref="PreferenceLossType"/> and TRL's <c>loss_type</c> strings ("sigmoid", "bco_pair", ...),
/// so that configurations written for TRL's DPOTrainer read the same here.
/// </summary>
internal static class PreferenceLossTypeNames
{
    // One table, both directions: the enum order is TRL's documentation order.
    private static readonly (PreferenceLossType Type, string Name)[] Table =
    [
        (PreferenceLossType.Sigmoid, "sigmoid"),
        (PreferenceLossType.Hinge, "hinge"),
        (PreferenceLossType.Ipo, "ipo"),
        (PreferenceLossType.ExoPair, "exo_pair"),
        (PreferenceLossType.NcaPair, "nca_pair"),
        (PreferenceLossType.Robust, "robust"),
        (PreferenceLossType.BcoPair, "bco_pair"),
        (PreferenceLossType.SppoHard, "sppo_hard"),
        (PreferenceLossType.Aot, "aot"),
        (PreferenceLossType.AotPair, "aot_pair"),
        (PreferenceLossType.ApoZero, "apo_zero"),
        (PreferenceLossType.ApoDown, "apo_down"),
        (PreferenceLossType.DiscoPop, "discopop"),
        (PreferenceLossType.Sft, "sft"),
    ];

    /// <summary>Every valid TRL name, in the order of <see cref="PreferenceLossType"/>.</summary>
    public static IReadOnlyList<string> All { get; } = Array.AsReadOnly(Table.Select(t => t.Name).ToArray());

    /// <summary>TRL's name of <paramref name="type"/> (<c>BcoPair</c> → "bco_pair").</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="type"/> is not a defined member.</exception>
    public static string ToTrlName(this PreferenceLossType type)
    {
        foreach (var (t, name) in Table)
        {
            if (t == type)
                return name;
        }
        throw new ArgumentOutOfRangeException(nameof(type), type, "Not a defined PreferenceLossType.");
    }

    /// <summary>
    /// Reads a TRL name. Case and surrounding spaces are ignored, and the enum spelling ("BcoPair") is accepted too.
    /// </summary>
    /// <returns>False for an unknown or empty name.</returns>
    public static bool TryParse(string? name, out PreferenceLossType type)
    {
        var key = (name ?? "").Trim();
        foreach (var (t, n) in Table)
        {
            if (string.Equals(n, key, StringComparison.OrdinalIgnoreCase) ||
                string.Equals(t.ToString(), key, StringComparison.OrdinalIgnoreCase))
            {
                type = t;
                return true;
            }
        }
        type = default;
        return false;
    }

    /// <summary>Reads a TRL name, as <see cref="TryParse"/> does.</summary>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the valid names.</exception>
    public static PreferenceLossType Parse(string? name, string optionName = "loss_type")
    {
        if (TryParse(name, out var type))
            return type;
        // Names TRL renamed or never had in 0.27.2 get a pointer, since they are the likely typos.
        string hint = (name ?? "").Trim().ToLowerInvariant() switch
        {
            "aot_unpaired" => " ('aot_unpaired' is TRL >= 0.28's name for 'aot_pair'.)",
            "dpo" => " (DPO is 'sigmoid'.)",
            "cdpo" => " (cDPO is 'sigmoid' with label smoothing > 0.)",
            "kto_pair" => " ('kto_pair' was removed from TRL; 'bco_pair' or 'apo_zero' are its successors.)",
            "orpo" => " (ORPO is reference-free and has its own class, OrpoLoss.)",
            _ => "",
        };
        throw new ArgumentException(
            $"{optionName} = '{name}' is not a preference loss type. Valid names: {string.Join(", ", All)}.{hint}",
            optionName);
    }
}
