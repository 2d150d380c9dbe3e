namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// The loss or the gradient norm stopped being a finite number; the weights were not updated. The error names the
/// last checkpoint written before the loss or gradient norm left its normal range
/// (<see cref="MpoTrainer.Options.DivergenceFactor"/>), not merely the last one written: a checkpoint whose weights
/// already blew up would fail the same way when resumed.
/// </summary>
public sealed class NonFiniteLossException : InvalidOperationException
{
    /// <summary>Creates the error for optimiser step <paramref name="step"/>.</summary>
    /// <param name="step">The optimiser step (1-based) that failed.</param>
    /// <param name="what">What is not finite ("the loss").</param>
    /// <param name="rows">The rows of the failing batch (0-based; the message counts from 1).</param>
    /// <param name="lastCheckpoint">The last checkpoint written before training left its normal range, if any.</param>
    /// <param name="newestCheckpoint">The newest checkpoint written, if any.</param>
    /// <param name="leftRangeAt">The first step out of the normal range, if one was seen before this one.</param>
    public NonFiniteLossException(int step, string what, IReadOnlyList<long> rows, string? lastCheckpoint, string? newestCheckpoint = null, int? leftRangeAt = null)
        : base($"Training stopped at step {step}: {what} is not finite" + (rows.Count == 0 ? "" : $" (data rows {string.Join(", ", rows.Select(r => r + 1))})") +
               ". The weights were not updated with it. " +
               (lastCheckpoint is null
                   ? "No checkpoint was written before the loss and gradient norm left their normal range."
                   : $"The last checkpoint written before the loss and gradient norm left their normal range is {lastCheckpoint}.") +
               (newestCheckpoint is not null && newestCheckpoint != lastCheckpoint
                   ? $" Do not resume from {newestCheckpoint}: it was written after " + (leftRangeAt is int s ? $"step {s} left that range" : "the last step known to be normal") +
                     ", and its weights may already have diverged."
                   : "") +
               " Lower the learning rate, check the data of those rows, or use float32.")
    {
        Step = step;
        LastCheckpoint = lastCheckpoint;
        NewestCheckpoint = newestCheckpoint;
        LeftRangeAt = leftRangeAt;
    }

    /// <summary>The optimiser step (1-based) that failed.</summary>
    public int Step { get; }

    /// <summary>The last checkpoint written before the loss or gradient norm left its normal range: the one to resume from.</summary>
    public string? LastCheckpoint { get; }

    /// <summary>The newest checkpoint on disk, which may hold diverged weights when it differs from <see cref="LastCheckpoint"/>.</summary>
    public string? NewestCheckpoint { get; }

    /// <summary>The first step whose loss or gradient norm left the normal range, when one did before the failure.</summary>
    public int? LeftRangeAt { get; }
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
