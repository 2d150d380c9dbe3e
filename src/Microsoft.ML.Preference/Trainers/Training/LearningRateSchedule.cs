namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>The decay after warm-up, as in Hugging Face's get_*_schedule_with_warmup.</summary>
public enum LearningRateScheduleKind
{
    /// <summary>Half a cosine from the peak to 0 (TRL/InternVL's usual choice).</summary>
    Cosine,
    /// <summary>A straight line from the peak to 0.</summary>
    Linear,
    /// <summary>The peak rate throughout.</summary>
    Constant,
}

/// <summary>
/// The learning rate of optimiser step <c>s</c> (0-based): linear warm-up from 0 over the warm-up steps, then
/// the chosen decay to 0 at the last step — Hugging Face's formulas, so the curve of a run matches TRL's.
/// </summary>
internal sealed record LearningRateSchedule(double PeakRate, int WarmupSteps, int TotalSteps, LearningRateScheduleKind Kind)
{
    /// <summary>The rate for step <paramref name="step"/>.</summary>
    public double RateAt(int step)
    {
        if (step < WarmupSteps)
            return PeakRate * step / Math.Max(1, WarmupSteps);
        if (Kind == LearningRateScheduleKind.Constant)
            return PeakRate;
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return Kind switch
        {
            LearningRateScheduleKind.Linear => PeakRate * Math.Max(0.0, 1.0 - progress),
            _ => PeakRate * Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress))),
        };
    }
}
