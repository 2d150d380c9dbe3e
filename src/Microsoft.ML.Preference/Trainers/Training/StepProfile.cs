using System.Diagnostics;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Where a training step's time goes, for <c>mpo bench base-step</c>: the loop marks the end of each phase with
/// <see cref="Lap"/>, which adds the time since the previous mark to that phase. Off (one null check per mark) unless a
/// profile is started on the training thread; CPU ops run synchronously, so wall time between marks is the phase's.
/// </summary>
internal sealed class StepProfile
{
    [ThreadStatic]
    private static StepProfile? _current;

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private double _last;
    private readonly Dictionary<string, (double Seconds, long Count)> _phases = new(StringComparer.Ordinal);
    private readonly List<string> _order = new();

    /// <summary>Starts collecting on this thread; dispose the returned scope to stop.</summary>
    public static StepProfile Start()
    {
        var profile = new StepProfile();
        _current = profile;
        return profile;
    }

    /// <summary>Stops collecting on this thread.</summary>
    public void Stop()
    {
        if (_current == this)
            _current = null;
    }

    /// <summary>Restarts the clock without charging the time since the last mark to any phase.</summary>
    public static void Mark() => _current?.Reset();

    /// <summary>Charges the time since the last mark to <paramref name="phase"/>.</summary>
    public static void Lap(string phase) => _current?.Add(phase);

    /// <summary>Adds <paramref name="value"/> to the counter <paramref name="name"/> (e.g. positions through the decoder).</summary>
    public static void Count(string name, long value)
    {
        if (_current is { } p)
            p._counters[name] = p._counters.GetValueOrDefault(name) + value;
    }

    private readonly Dictionary<string, long> _counters = new(StringComparer.Ordinal);

    /// <summary>The counters' totals.</summary>
    public IReadOnlyDictionary<string, long> Counters => _counters;

    /// <summary>Seconds and marks per phase, in the order phases were first seen.</summary>
    public IReadOnlyList<(string Phase, double Seconds, long Count)> Phases => _order.Select(p => (p, _phases[p].Seconds, _phases[p].Count)).ToList();

    private void Reset() => _last = _clock.Elapsed.TotalSeconds;

    private void Add(string phase)
    {
        double now = _clock.Elapsed.TotalSeconds;
        if (!_phases.TryGetValue(phase, out var sum))
            _order.Add(phase);
        _phases[phase] = (sum.Seconds + now - _last, sum.Count + 1);
        _last = now;
    }
}
