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
        using var setup = new Setup(bench);
        var requests = Enumerable.Range(0, bench.Pairs).Select(r => new GenerationRequest(setup.Prompt(r),
            setup.Pixels[(r * bench.TilesPerSample)..((r + 1) * bench.TilesPerSample)])).ToList();
        var (prefill, decode) = Time(setup.Generator, requests, new GenerationOptions { MaxNewTokens = bench.ChosenTokens }, warmup, timed);
        return new GenerationBenchmarkResult(bench.Pairs, bench.PromptTokens, bench.ChosenTokens, prefill, decode, ProcessMemory.PeakResidentBytes());
    }

    /// <summary>
    /// K samples of one prompt of the benchmark batch (its image and prompt text) as one request, as the correctness
    /// pipeline draws them: sampled as MMPR samples (temperature 0.7, top-k 50), as many new tokens as a chosen response.
    /// The time to the first token covers the image encoding, the one prefill, the copy of the KV cache to the K rows
    /// and the first draw.
    /// </summary>
    public static IReadOnlyList<SamplingBenchmarkResult> RunSamples(BenchConfig bench, IReadOnlyList<int> samples, int warmup = 1, int timed = 3)
    {
        using var setup = new Setup(bench);
        using var tiles = setup.Pixels[..bench.TilesPerSample];
        var options = new GenerationOptions { MaxNewTokens = bench.ChosenTokens, Temperature = 0.7, TopK = 50, Seed = 0 };
        return samples.Select(k =>
        {
            var (first, decode) = Time(setup.Generator, [new GenerationRequest(setup.Prompt(0), tiles, Samples: k)], options, warmup, timed);
            return new SamplingBenchmarkResult(k, bench.PromptTokens, bench.ChosenTokens, first, decode);
        }).ToList();
    }

    /// <summary>Medians of the time to the first token and of the time from there to the last, after warm-up runs.</summary>
    private static (double FirstToken, double Decode) Time(VisionLanguageGenerator generator, IReadOnlyList<GenerationRequest> requests,
        GenerationOptions options, int warmup, int timed)
    {
        var first = new List<double>();
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
            first.Add(firstToken);
            decode.Add(clock.Elapsed.TotalSeconds - firstToken);
        }
        return (Timing.Median(first), Timing.Median(decode));
    }

    /// <summary>The random-weight model of the configuration, its batch's prompts and pixels, and a generator without stop ids.</summary>
    private sealed class Setup : IDisposable
    {
        private readonly BenchConfig _bench;
        private readonly InternVLChatModel _model;
        private readonly Tensor _ids;

        public Setup(BenchConfig bench)
        {
            TorchRuntime.Initialize();
            torch.set_num_threads(bench.Threads);
            _bench = bench;
            _model = new InternVLChatModel(bench.Model, bench.ImageContextId);
            WeightInitializer.Initialize(_model, std: 0.02, seed: 0);
            _model.eval();
            (Pixels, _ids, var labels) = bench.MakeBatch(seed: 0);
            labels.Dispose();
            Generator = new VisionLanguageGenerator(_model, null, [], padId: 0);
        }

        public Tensor Pixels { get; }

        public VisionLanguageGenerator Generator { get; }

        /// <summary>The prompt (everything before the response) of batch row <paramref name="row"/>.</summary>
        public List<int> Prompt(int row) => _ids[row, .._bench.PromptTokens].data<long>().Select(x => (int)x).ToList();

        public void Dispose()
        {
            Pixels.Dispose();
            _ids.Dispose();
            _model.Dispose();
        }
    }
}
