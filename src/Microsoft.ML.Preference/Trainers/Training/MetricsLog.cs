namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Appends each step's <see cref="TrainingMetrics"/> as a JSON line (flushed per line, so a crash or kill loses
/// nothing written) and keeps them for the end-of-training plot.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter? _writer;
    private readonly List<TrainingMetrics> _history = new();

    /// <summary>Opens <paramref name="path"/> for appending (a resumed run continues the same file); null keeps metrics in memory only.</summary>
    public MetricsLog(string? path)
    {
        if (path is null)
            return;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
    }

    /// <summary>Every record written so far in this process.</summary>
    public IReadOnlyList<TrainingMetrics> History => _history;

    /// <summary>Records one step.</summary>
    public void Write(TrainingMetrics metrics)
    {
        _history.Add(metrics);
        _writer?.WriteLine(metrics.ToJsonLine());
    }

    /// <inheritdoc/>
    public void Dispose() => _writer?.Dispose();
}
