namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Appends each step's <see cref="TrainingMetrics"/> as a JSON line (flushed per line, so a crash or kill loses
/// nothing written). The run's records in memory are the training loop's history.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter? _writer;

    /// <summary>Opens <paramref name="path"/> for appending (a resumed run continues the same file); null keeps metrics in memory only.</summary>
    public MetricsLog(string? path)
    {
        if (path is null)
            return;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
    }

    /// <summary>Records one step.</summary>
    public void Write(TrainingMetrics metrics)
    {
        _writer?.WriteLine(metrics.ToJsonLine());
    }

    /// <inheritdoc/>
    public void Dispose() => _writer?.Dispose();
}
