using System.Diagnostics;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>Warm-up then timed repetitions; reports the median, which one slow outlier does not move.</summary>
internal static class Timing
{
    public static (double Median, double[] All) Measure(int warmup, int timed, Action run)
    {
        for (int i = 0; i < warmup; i++)
            run();
        var seconds = new double[timed];
        for (int i = 0; i < timed; i++)
        {
            var clock = Stopwatch.StartNew();
            run();
            seconds[i] = clock.Elapsed.TotalSeconds;
        }
        return (Median(seconds), seconds);
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
