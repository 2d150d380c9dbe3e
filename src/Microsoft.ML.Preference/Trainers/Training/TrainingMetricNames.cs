namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>The metric names the trainer logs (TRL's), and those drawn in the curves PNG.</summary>
public static class TrainingMetricNames
{
    /// <summary>Panels of the training-curves PNG, in order.</summary>
    public static IReadOnlyList<string> Plotted { get; } =
    [
        "loss", "rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected", "logps/chosen",
        "logps/rejected", "nll_loss", "grad_norm", "learning_rate", "tokens_per_second", "bco_delta",
    ];
}
