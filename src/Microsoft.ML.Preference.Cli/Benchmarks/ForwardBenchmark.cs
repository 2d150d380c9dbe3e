using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>What <see cref="ForwardBenchmark.Run"/> measured.</summary>
internal sealed record ForwardBenchmarkResult(
    double GemmGflops, double MedianSeconds, double[] Seconds, int Tokens, double ForwardGflop, long PeakRssBytes, int Threads)
{
    public double TokensPerSecond => Tokens / MedianSeconds;
    public double AchievedGflops => ForwardGflop / MedianSeconds;
    public double RoofFraction => AchievedGflops / GemmGflops;
}

/// <summary>
/// Forward throughput of the full model (vision tower, projector, decoder, float32 logits) on the benchmark
/// batch with random weights, no gradients: the inference half of a training step.
/// </summary>
internal static class ForwardBenchmark
{
    public static ForwardBenchmarkResult Run(BenchConfig bench, Action<string>? log = null)
    {
        TorchRuntime.Initialize();
        torch.set_num_threads(bench.Threads);
        double gemm = GemmRoof.MeasureGflops();
        log?.Invoke($"GEMM 2048^3 fp32: {gemm:F1} GFLOP/s on {bench.Threads} threads");

        using var model = new InternVLChatModel(bench.Model, bench.ImageContextId);
        WeightInitializer.Initialize(model, std: 0.02, seed: 0);
        model.eval();
        var (pairPixels, ids, _) = bench.MakeBatch(seed: 0);
        using var pixels = torch.cat([pairPixels, pairPixels]);
        using var noGrad = torch.no_grad();
        var (median, all) = Timing.Measure(bench.Warmup, bench.Timed, () =>
        {
            using var scope = torch.NewDisposeScope();
            model.Forward(pixels, ids);
        });
        pairPixels.Dispose();
        ids.Dispose();
        double gflop = FlopCounter.Forward(bench.Model, bench.Sequences, bench.SequenceLength, pixels.shape[0]) / 1e9;
        return new ForwardBenchmarkResult(gemm, median, all, bench.TokensPerStep, gflop, ProcessMemory.PeakResidentBytes(), bench.Threads);
    }
}
