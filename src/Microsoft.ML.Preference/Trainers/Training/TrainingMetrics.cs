using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// One optimiser step's figures, under TRL's metric names (loss, rewards/chosen, rewards/accuracies,
/// logps/rejected, grad_norm, learning_rate ...), with "eval_" versions for the validation set.
/// </summary>
public sealed class TrainingMetrics
{
    private readonly SortedDictionary<string, double> _values = new(StringComparer.Ordinal);

    /// <summary>The optimiser step (1-based) these figures belong to.</summary>
    public int Step { get; }

    /// <summary>The epoch as a fraction (TRL's "epoch").</summary>
    public double Epoch { get; }

    /// <summary>Creates the record of <paramref name="step"/>.</summary>
    public TrainingMetrics(int step, double epoch)
    {
        Step = step;
        Epoch = epoch;
    }

    /// <summary>Every figure by name.</summary>
    public IReadOnlyDictionary<string, double> Values => _values;

    /// <summary>A figure, or NaN if it was not recorded.</summary>
    public double this[string name] => _values.TryGetValue(name, out var v) ? v : double.NaN;

    /// <summary>Sets a figure.</summary>
    public void Set(string name, double value) => _values[name] = value;

    /// <summary>One JSON object on one line: step, epoch and every figure.</summary>
    public string ToJsonLine()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{{\"step\":{Step},\"epoch\":{Epoch.ToString("R", CultureInfo.InvariantCulture)}");
        foreach (var (name, value) in _values)
        {
            sb.Append(',').Append(JsonSerializer.Serialize(name)).Append(':');
            sb.Append(double.IsFinite(value) ? value.ToString("R", CultureInfo.InvariantCulture) : JsonSerializer.Serialize(value.ToString(CultureInfo.InvariantCulture)));
        }
        return sb.Append('}').ToString();
    }

    /// <summary>
    /// The record written by <see cref="ToJsonLine"/>: step, epoch and every figure (non-finite figures, written as
    /// strings such as "NaN", come back as numbers).
    /// </summary>
    public static TrainingMetrics FromJsonLine(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        var metrics = new TrainingMetrics(root.GetProperty("step").GetInt32(), root.GetProperty("epoch").GetDouble());
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name is "step" or "epoch")
                continue;
            metrics.Set(property.Name, property.Value.ValueKind == JsonValueKind.String
                ? double.Parse(property.Value.GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture)
                : property.Value.GetDouble());
        }
        return metrics;
    }

    /// <summary>A short human line for logs: the figures a user watches.</summary>
    public string Summary()
    {
        string F(string name, string format = "F4") => double.IsNaN(this[name]) ? "-" : this[name].ToString(format, CultureInfo.InvariantCulture);
        return $"step {Step} epoch {Epoch:F2}: loss {F("loss")} acc {F("rewards/accuracies", "F2")} margin {F("rewards/margins")} " +
               $"grad_norm {F("grad_norm")} lr {F("learning_rate", "E2")} tokens/s {F("tokens_per_second", "F0")}";
    }
}
