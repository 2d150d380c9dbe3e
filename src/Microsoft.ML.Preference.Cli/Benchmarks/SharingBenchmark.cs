using System.Diagnostics;
using TorchSharp;
using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>One forward benchmark run of <see cref="SharingBenchmark"/>.</summary>
internal sealed record SharingRun(string Label, double MedianSeconds, string WaitPolicy);

/// <summary>
/// Fair sharing of the CPU: <c>mpo bench forward</c> in a child process alone, then beside a competing torch process
/// (matrix products on N threads, its OpenMP threads spinning as a stock libtorch's do), and, to show that the wait
/// policy is what makes the difference, once more beside it with OMP_WAIT_POLICY=ACTIVE forced on the forward.
/// </summary>
internal static class SharingBenchmark
{
    public static IReadOnlyList<SharingRun> Run(string configPath, int? threads, int competitorThreads, bool compareActive, Action<string> log)
    {
        var forwardArgs = new List<string> { "bench", "forward", "--config", configPath, "--result-line" };
        if (threads is int t)
            forwardArgs.AddRange(["--threads", t.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        // The user's own OMP_WAIT_POLICY, if any, is what the package keeps; otherwise the child sets PASSIVE itself.
        var own = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is { Length: > 0 } set ? set : "PASSIVE (the package's default)";
        var runs = new List<SharingRun>();
        SharingRun Forward(string label, string policy, IReadOnlyDictionary<string, string>? env = null)
        {
            var r = MpoChildProcess.Run<ForwardBenchmarkResult>($"bench forward ({label})", forwardArgs, env);
            log($"{label}: median forward {r.MedianSeconds * 1000:F0} ms");
            return new SharingRun(label, r.MedianSeconds, policy);
        }

        runs.Add(Forward("alone", own));
        using (var competitor = StartCompetitor(competitorThreads))
        {
            try
            {
                runs.Add(Forward($"beside a {competitorThreads}-thread torch process", own));
                if (compareActive)
                    runs.Add(Forward($"beside it, OMP_WAIT_POLICY=ACTIVE", "ACTIVE", new Dictionary<string, string> { ["OMP_WAIT_POLICY"] = "ACTIVE" }));
            }
            finally
            {
                competitor.Kill(entireProcessTree: true);
                competitor.WaitForExit();
            }
        }
        return runs;
    }

    private static Process StartCompetitor(int threads)
    {
        var psi = MpoChildProcess.StartInfo(["bench", "load", "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            new Dictionary<string, string> { ["OMP_WAIT_POLICY"] = "ACTIVE" });
        var p = Process.Start(psi)!;
        // Wait until its loop runs, so the measured forward never sees an idle neighbour.
        var ready = p.StandardOutput.ReadLine();
        if (ready != "ready")
            throw new InvalidOperationException($"the competing process did not start: {ready}");
        return p;
    }

    /// <summary>The competitor: 512³ matrix products in a loop until it is killed (or <paramref name="maxSeconds"/> pass).</summary>
    public static void Load(double maxSeconds)
    {
        TorchRuntime.Initialize();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var a = torch.randn(512, 512);
        var b = torch.randn(512, 512);
        Console.WriteLine("ready");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < maxSeconds)
        {
            using var inner = torch.NewDisposeScope();
            torch.matmul(a, b);
        }
    }
}
