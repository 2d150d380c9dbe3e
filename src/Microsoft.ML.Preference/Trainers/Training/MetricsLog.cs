using System.Text.Json;
using Microsoft.ML.Preference.Modeling.Checkpoints;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Writes each step's <see cref="TrainingMetrics"/> as a JSON line (flushed per line, so a crash or kill loses
/// nothing written), and reads such a file back. The run's records in memory are the training loop's history.
/// </summary>
internal sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter? _writer;

    /// <summary>
    /// Opens <paramref name="path"/> for one run; null keeps metrics in memory only. A fresh run
    /// (<paramref name="resumedAtStep"/> 0) starts the file anew, so a rerun in the same output folder does not follow
    /// the old run's lines. A run resumed from a checkpoint keeps the lines up to that checkpoint's step and drops the
    /// later ones: the interrupted run did those steps after its last checkpoint, and this run does them again.
    /// </summary>
    public MetricsLog(string? path, int resumedAtStep = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(resumedAtStep);
        if (path is null)
            return;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (resumedAtStep == 0 || !File.Exists(path))
        {
            _writer = new StreamWriter(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
            return;
        }
        // A line torn by a kill does not parse and is dropped with the steps after the checkpoint.
        var kept = File.ReadLines(path).Where(line => StepOf(line) is { } step && step <= resumedAtStep).ToList();
        AtomicFile.Write(path, stream =>
        {
            using var rewrite = new StreamWriter(stream, leaveOpen: true);
            foreach (var line in kept)
                rewrite.WriteLine(line);
        });
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
    }

    /// <summary>Records one step.</summary>
    public void Write(TrainingMetrics metrics)
    {
        _writer?.WriteLine(metrics.ToJsonLine());
    }

    /// <summary>
    /// The records of a metrics.jsonl file, in file order (e.g. to plot a finished run again). A line that is not a
    /// record fails with its line number.
    /// </summary>
    public static IReadOnlyList<TrainingMetrics> Read(string path)
    {
        var records = new List<TrainingMetrics>();
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            try
            {
                records.Add(TrainingMetrics.FromJsonLine(line));
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
            {
                throw new InvalidDataException($"{path}, line {number}: not a metrics record ({e.Message}).", e);
            }
        }
        return records;
    }

    private static int? StepOf(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.TryGetProperty("step", out var step) && step.TryGetInt32(out int value) ? value : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _writer?.Dispose();
}
