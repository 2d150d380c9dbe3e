using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>What <see cref="GenerationBenchmark.Run"/> measured (medians over the timed runs).</summary>
internal sealed record GenerationBenchmarkResult(
    int Prompts, int PromptTokens, int NewTokens, double PrefillSeconds, double DecodeSeconds, long PeakRssBytes)
{
    public double PrefillTokensPerSecond => Prompts * PromptTokens / PrefillSeconds;
    public double DecodeTokensPerSecond => Prompts * (NewTokens - 1) / DecodeSeconds;
}

/// <summary>What <see cref="GenerationBenchmark.RunSamples"/> measured for one K (medians over the timed runs).</summary>
internal sealed record SamplingBenchmarkResult(int Samples, int PromptTokens, int NewTokens, double FirstTokenSeconds, double DecodeSeconds)
{
    public double DecodeStepSeconds => DecodeSeconds / (NewTokens - 1);
}

/// <summary>
/// Greedy generation on the benchmark configuration: the P prompts of the preference batch (image + prompt
/// text, one tile each) continued for as many tokens as a chosen response has. Prefill is timed to the first
/// token, decode from there to the last.
/// </summary>
internal static class GenerationBenchmark
{
    public static GenerationBenchmarkResult Run(BenchConfig bench, int warmup = 1, int timed = 3)
    {
        TorchRuntime.Initialize();
        torch.set_num_threads(bench.Threads);
        using var model = new InternVLChatModel(bench.Model, bench.ImageContextId);
        WeightInitializer.Initialize(model, std: 0.02, seed: 0);
        model.eval();
        var (pixels, ids, _) = bench.MakeBatch(seed: 0);
        using var _p = pixels;
        using var _i = ids;
        var requests = Enumerable.Range(0, bench.Pairs).Select(r => new GenerationRequest(
            ids[r, ..bench.PromptTokens].data<long>().Select(x => (int)x).ToList(),
            pixels[(r * bench.TilesPerSample)..((r + 1) * bench.TilesPerSample)])).ToList();
        var generator = new VisionLanguageGenerator(model, null, [], padId: 0);
        var options = new GenerationOptions { MaxNewTokens = bench.ChosenTokens };

        var prefill = new List<double>();
        var decode = new List<double>();
        for (int run = 0; run < warmup + timed; run++)
        {
            var clock = Stopwatch.StartNew();
            double firstToken = 0;
            generator.Generate(requests, options, t =>
            {
                if (firstToken == 0)
                    firstToken = clock.Elapsed.TotalSeconds;
            });
            if (run < warmup)
                continue;
            prefill.Add(firstToken);
            decode.Add(clock.Elapsed.TotalSeconds - firstToken);
        }
        return new GenerationBenchmarkResult(bench.Pairs, bench.PromptTokens, bench.ChosenTokens,
            Timing.Median(prefill), Timing.Median(decode), ProcessMemory.PeakResidentBytes());
    }

    /// <summary>
    /// K samples of one prompt of the benchmark batch (its image and prompt text) as one request, as the correctness
    /// pipeline draws them: sampled as MMPR samples (temperature 0.7, top-k 50), as many new tokens as a chosen response.
    /// The time to the first token covers the image encoding, the one prefill, the copy of the KV cache to the K rows
    /// and the first draw.
    /// </summary>
    public static IReadOnlyList<SamplingBenchmarkResult> RunSamples(BenchConfig bench, IReadOnlyList<int> samples, int warmup = 1, int timed = 3)
    {
        TorchRuntime.Initialize();
        torch.set_num_threads(bench.Threads);
        using var model = new InternVLChatModel(bench.Model, bench.ImageContextId);
        WeightInitializer.Initialize(model, std: 0.02, seed: 0);
        model.eval();
        var (pixels, ids, _) = bench.MakeBatch(seed: 0);
        using var _p = pixels;
        using var _i = ids;
        var prompt = ids[0, ..bench.PromptTokens].data<long>().Select(x => (int)x).ToList();
        using var tiles = pixels[..bench.TilesPerSample];
        var generator = new VisionLanguageGenerator(model, null, [], padId: 0);
        var options = new GenerationOptions { MaxNewTokens = bench.ChosenTokens, Temperature = 0.7, TopK = 50, Seed = 0 };
        var results = new List<SamplingBenchmarkResult>();
        foreach (int k in samples)
        {
            var request = new GenerationRequest(prompt, tiles, Samples: k);
            var first = new List<double>();
            var decode = new List<double>();
            for (int run = 0; run < warmup + timed; run++)
            {
                var clock = Stopwatch.StartNew();
                double firstToken = 0;
                generator.Generate([request], options, t =>
                {
                    if (firstToken == 0)
                        firstToken = clock.Elapsed.TotalSeconds;
                });
                if (run < warmup)
                    continue;
                first.Add(firstToken);
                decode.Add(clock.Elapsed.TotalSeconds - firstToken);
            }
            results.Add(new SamplingBenchmarkResult(k, bench.PromptTokens, bench.ChosenTokens, Timing.Median(first), Timing.Median(decode)));
        }
        return results;
    }
}
