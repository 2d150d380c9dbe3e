using System.Globalization;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Tells which checkpoint can be trusted when training diverges. A step is in its normal range while its loss and
/// gradient norm stay within <c>factor</c> × the running median of the earlier normal steps (values up to
/// <see cref="Floor"/> always count as normal, so a loss near 0 does not make every wobble an alarm). A checkpoint
/// is trusted only once the step after it, computed on its weights, is normal: a learning rate that blows the
/// weights up in one update still computes that update's loss on the old weights, so the checkpoint written right
/// after it looks fine until the next step.
/// </summary>
internal sealed class DivergenceWatch
{
    /// <summary>Losses and gradient norms at or below this are never out of range.</summary>
    public const double Floor = 1.0;

    private readonly double _factor;
    private readonly List<double> _losses = [];
    private readonly List<double> _norms = [];
    private (string Path, int Step)? _pending;

    /// <param name="factor">The range, as a multiple of the running median; 0 turns the range off (only non-finite values count).</param>
    /// <param name="resumedFrom">The checkpoint a resumed run started from, trusted since the user chose it.</param>
    public DivergenceWatch(double factor, string? resumedFrom)
    {
        _factor = factor;
        LastTrusted = resumedFrom;
    }

    /// <summary>The last checkpoint written before training left its normal range (null if none).</summary>
    public string? LastTrusted { get; private set; }

    /// <summary>The newest checkpoint written, trusted or not.</summary>
    public string? Newest { get; private set; }

    /// <summary>The first (1-based) step out of range, or null.</summary>
    public int? LeftRangeAt { get; private set; }

    /// <summary>Records a finished step (1-based); returns a warning the first time a step leaves the range.</summary>
    public string? Observe(int step, double loss, double gradNorm)
    {
        if (LeftRangeAt is not null)
            return null;
        loss = Math.Abs(loss);
        string? lossOut = OutOfRange(loss, _losses), normOut = OutOfRange(gradNorm, _norms);
        if (lossOut is not null || normOut is not null)
        {
            LeftRangeAt = step;
            var what = string.Join(" and ", new[] { lossOut is null ? null : $"the loss {lossOut}", normOut is null ? null : $"the gradient norm {normOut}" }.Where(x => x is not null));
            return $"Step {step}: {what}: training may be diverging. " +
                   (LastTrusted is null ? "No checkpoint was written before it." : $"The last checkpoint before it is {LastTrusted}.");
        }
        _losses.Add(loss);
        _norms.Add(gradNorm);
        if (_pending is { } p && p.Step == step - 1)
        {
            LastTrusted = p.Path;
            _pending = null;
        }
        return null;
    }

    /// <summary>Records a checkpoint written after <paramref name="step"/> steps.</summary>
    public void Saved(string path, int step)
    {
        Newest = path;
        if (LeftRangeAt is null)
            _pending = (path, step);
    }

    private string? OutOfRange(double value, List<double> history)
    {
        if (_factor <= 0 || history.Count == 0 || value <= Floor)
            return null;
        double median = Median(history);
        return value <= _factor * median ? null
            : string.Create(CultureInfo.InvariantCulture, $"{value:G4} is above {_factor:G4} x the running median {median:G4}");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
