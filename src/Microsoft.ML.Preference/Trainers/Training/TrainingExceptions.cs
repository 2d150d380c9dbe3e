namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>The loss or the gradient norm stopped being a finite number; the weights were not updated.</summary>
public sealed class NonFiniteLossException : InvalidOperationException
{
    /// <summary>Creates the error for optimiser step <paramref name="step"/>.</summary>
    public NonFiniteLossException(int step, string what, IReadOnlyList<long> rows, string? lastCheckpoint)
        : base($"Training stopped at step {step}: {what} is not finite (rows {string.Join(", ", rows)}). The weights were not updated with it. " +
               (lastCheckpoint is null ? "No checkpoint was written yet." : $"The last good checkpoint is {lastCheckpoint}.") +
               " Lower the learning rate, check the data of those rows, or use float32.")
    {
        Step = step;
        LastCheckpoint = lastCheckpoint;
    }

    /// <summary>The optimiser step (1-based) that failed.</summary>
    public int Step { get; }

    /// <summary>The newest checkpoint on disk, if any.</summary>
    public string? LastCheckpoint { get; }
}

/// <summary>Training was cancelled at a step boundary; a checkpoint of that point was written.</summary>
public sealed class TrainingCanceledException : OperationCanceledException
{
    /// <summary>Creates the notice.</summary>
    public TrainingCanceledException(int step, string? checkpoint, CancellationToken token)
        : base($"Training was cancelled after step {step}." + (checkpoint is null ? "" : $" Resume from {checkpoint}."), token)
    {
        Step = step;
        Checkpoint = checkpoint;
    }

    /// <summary>The last completed optimiser step.</summary>
    public int Step { get; }

    /// <summary>The checkpoint written at cancellation (null without an output folder).</summary>
    public string? Checkpoint { get; }
}
