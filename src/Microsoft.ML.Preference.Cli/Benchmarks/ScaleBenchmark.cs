using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>One point of <c>mpo bench scale</c>, measured in a process of its own (so VmHWM is this point's peak).</summary>
/// <param name="Part">a (full depth), b (a few layers) or c (generation).</param>
/// <param name="Layers">Decoder layers.</param>
/// <param name="Tokens">Tokens per row (training) or prompt tokens (generation).</param>
/// <param name="Image">Whether rows carry one 448 px tile (256 image tokens).</param>
/// <param name="Parameters">Parameters of the model.</param>
/// <param name="Trainable">Trainable parameters (the LoRA adapters).</param>
/// <param name="LoadSeconds">Part a: loading the bf16 folder written by <c>mpo init</c>; else building the model in memory.</param>
/// <param name="StepSeconds">Each training step's time (part c: empty).</param>
/// <param name="RssAfterStepBytes">VmRSS after each step.</param>
/// <param name="RssBeforeStepsBytes">VmRSS with the model loaded, before the first step.</param>
/// <param name="PeakRssBytes">VmHWM at the end.</param>
/// <param name="PrefillSeconds">Part c: time to the first token (image, prefill, first draw).</param>
/// <param name="DecodeSecondsPerToken">Part c: each later token.</param>
/// <param name="KvCacheBytes">Part c: the KV cache of the prompt and the new tokens (2 × layers × KV heads × head dim × tokens × 2 bytes).</param>
/// <param name="Loss">Part a/b: the last step's loss (finite: the step did run).</param>
/// <param name="LoadPeakRssBytes">VmHWM once the model was loaded; the kernel's peak is then reset (clear_refs 5), so
/// <paramref name="PeakRssBytes"/> is the peak of the steps (or of generation) alone, when the kernel allows the reset.</param>
internal sealed record ScalePoint(string Part, int Layers, int Tokens, bool Image, long Parameters, long Trainable, double LoadSeconds,
    double[] StepSeconds, long[] RssAfterStepBytes, long RssBeforeStepsBytes, long PeakRssBytes, double PrefillSeconds,
    double DecodeSecondsPerToken, long KvCacheBytes, double Loss, long LoadPeakRssBytes = 0);

/// <summary>
/// <c>mpo bench scale</c>: real-width InternVL2-1B shapes in bfloat16, LoRA rank 16 (reference = adapters disabled),
/// gradient checkpointing on, one pair per step; each point in a child process.
/// </summary>
internal static class ScaleBenchmark
{
    /// <summary>InternVL2-1B's architecture with <paramref name="layers"/> decoder layers (null: all 24).</summary>
    public static InternVLConfig Shape(int? layers)
    {
        var config = RandomInternVLFolder.ResolveConfig("internvl2-1b");
        return layers is int l ? config with { Language = config.Language with { NumHiddenLayers = l }, Raw = null } : config;
    }

    /// <summary>One training point: <paramref name="steps"/> MPO steps on one pair of <paramref name="tokens"/>-token rows.</summary>
    /// <param name="part">a or b.</param>
    /// <param name="layers">Decoder layers (null: full depth).</param>
    /// <param name="tokens">Tokens per row; the completion is everything after a 64-token prompt (and the image).</param>
    /// <param name="steps">Optimiser steps.</param>
    /// <param name="image">One 448 px tile per pair.</param>
    /// <param name="folder">Part a: a folder written by <c>mpo init --config internvl2-1b</c> to load (and time); null: built in memory.</param>
    public static ScalePoint Train(string part, int? layers, int tokens, int steps, bool image, string? folder, ScalarType dtype)
    {
        TorchRuntime.Initialize();
        torch.manual_seed(0);
        var clock = Stopwatch.StartNew();
        InternVLChatModel policy;
        if (folder is not null)
        {
            policy = InternVLModelFolder.Load(folder, dtype);
        }
        else
        {
            var config = Shape(layers);
            var previous = torch.get_default_dtype();
            torch.set_default_dtype(dtype);
            try
            {
                policy = new InternVLChatModel(config, config.Language.VocabSize - 7);
            }
            finally
            {
                torch.set_default_dtype(previous);
            }
            WeightInitializer.Initialize(policy, std: 0.02, seed: 0);
        }
        double load = clock.Elapsed.TotalSeconds;
        using var _ = policy;
        var shape = policy.Config;
        using var adapter = LoraAdapter.Attach(policy, new LoraOptions { Rank = 16, Alpha = 32 });
        adapter.FreezeBaseModel();
        policy.GradientCheckpointing = true;
        // The adapters' A and B live in the adapter module, beside the frozen base weights they wrap.
        var trainable = adapter.parameters().Where(p => p.requires_grad).ToList();
        long parameters = policy.parameters().Sum(p => p.numel());

        using var batch = MakeBatch(shape, policy.ImageContextTokenId, tokens, image, dtype);
        using var reference = new AdapterDisabledReference(policy, adapter, shareImages: true);
        var loss = new PreferenceLoss(PreferenceLossOptions.Mpo);
        using var optimizer = torch.optim.AdamW(trainable, 5e-6, 0.9, 0.999, 1e-8, 0.05);
        policy.train();
        long before = ProcessMemory.ResidentBytes();
        long loadPeak = ResetPeak();
        var seconds = new List<double>();
        var rss = new List<long>();
        double last = double.NaN;
        for (int step = 0; step < steps; step++)
        {
            var stepClock = Stopwatch.StartNew();
            using (var scope = torch.NewDisposeScope())
            {
                optimizer.zero_grad();
                var refSums = reference.Compute(batch);
                var lp = PolicyForward.LogProbs(policy, batch, true);
                var output = loss.Compute(new PreferenceLossInputs(lp.Sums.narrow(0, 0, 1), lp.Sums.narrow(0, 1, 1),
                    refSums.narrow(0, 0, 1), refSums.narrow(0, 1, 1), lp.Counts.narrow(0, 0, 1), lp.Counts.narrow(0, 1, 1)));
                output.Loss.backward();
                torch.nn.utils.clip_grad_norm_(trainable, 1.0);
                optimizer.step();
                last = output.Loss.item<float>();
            }
            seconds.Add(stepClock.Elapsed.TotalSeconds);
            rss.Add(ProcessMemory.ResidentBytes());
            Console.Error.WriteLine($"  step {step + 1}/{steps}: {seconds[^1]:F1} s, RSS {rss[^1] / 1048576.0:F0} MiB, loss {last:F4}");
        }
        return new ScalePoint(part, shape.Language.NumHiddenLayers, tokens, image, parameters, trainable.Sum(p => p.numel()), load,
            [.. seconds], [.. rss], before, ProcessMemory.PeakResidentBytes(), 0, 0, 0, last, loadPeak);
    }

    /// <summary>Part c: greedy generation at the full 1B shape, one tile and a prompt of <paramref name="promptTokens"/> tokens.</summary>
    public static ScalePoint Generate(int promptTokens, int newTokens, ScalarType dtype)
    {
        TorchRuntime.Initialize();
        var config = Shape(null);
        var clock = Stopwatch.StartNew();
        var previous = torch.get_default_dtype();
        torch.set_default_dtype(dtype);
        InternVLChatModel model;
        try
        {
            model = new InternVLChatModel(config, config.Language.VocabSize - 7);
        }
        finally
        {
            torch.set_default_dtype(previous);
        }
        using var _ = model;
        WeightInitializer.Initialize(model, std: 0.02, seed: 0);
        model.eval();
        double load = clock.Elapsed.TotalSeconds;
        using var batch = MakeBatch(config, model.ImageContextTokenId, promptTokens, image: true, dtype);
        var prompt = batch.InputIds[0].data<long>().Select(x => (int)x).ToList();
        var generator = new VisionLanguageGenerator(model, null, [], padId: 0);
        long before = ProcessMemory.ResidentBytes();
        long loadPeak = ResetPeak();
        var request = new GenerationRequest(prompt, batch.PairTiles);
        double first = 0;
        clock.Restart();
        generator.Generate([request], new GenerationOptions { MaxNewTokens = newTokens }, t =>
        {
            if (first == 0)
                first = clock.Elapsed.TotalSeconds;
        });
        double decode = (clock.Elapsed.TotalSeconds - first) / Math.Max(1, newTokens - 1);
        var l = config.Language;
        long headDim = l.HiddenSize / l.NumAttentionHeads;
        long kv = 2L * l.NumHiddenLayers * l.NumKeyValueHeads * headDim * (promptTokens + newTokens) * (dtype == ScalarType.Float32 ? 4 : 2);
        return new ScalePoint("c", l.NumHiddenLayers, promptTokens, true, model.parameters().Sum(p => p.numel()), 0, load, [], [],
            before, ProcessMemory.PeakResidentBytes(), first, decode, kv, 0, loadPeak);
    }

    /// <summary>
    /// The peak RSS so far, then resets the kernel's peak to the current RSS (writing 5 to /proc/self/clear_refs, Linux 4.0+),
    /// so that the next VmHWM is the peak of what follows (a mapped checkpoint touched while loading does not count).
    /// </summary>
    private static long ResetPeak()
    {
        long peak = ProcessMemory.PeakResidentBytes();
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or not allowed: VmHWM then includes loading.
        }
        return peak;
    }

    /// <summary>
    /// One pair of <paramref name="tokens"/>-token rows: [&lt;img&gt;, &lt;IMG_CONTEXT&gt; × 256, &lt;/img&gt;] when
    /// <paramref name="image"/>, random words up to 64 prompt tokens, then the completion (chosen and rejected differ).
    /// </summary>
    private static PreferenceBatch MakeBatch(InternVLConfig config, long imageContextId, int tokens, bool image, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var g = new Generator(1);
        int imageTokens = image ? config.NumImageToken + 2 : 0;
        int prompt = imageTokens + 64;
        if (tokens <= prompt + 1)
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"Rows need more than the {prompt} prompt tokens.");
        long words = config.Language.VocabSize - 16;
        var ids = torch.randint(0, words, [2, tokens], dtype: ScalarType.Int64, generator: g);
        ids[1, 0..prompt] = ids[0, 0..prompt];
        if (image)
        {
            ids[.., 0] = torch.tensor(imageContextId - 2);
            ids[.., 1..(1 + config.NumImageToken)] = torch.tensor(imageContextId);
            ids[.., 1 + config.NumImageToken] = torch.tensor(imageContextId - 1);
        }
        var labels = ids.clone();
        labels[.., ..prompt] = torch.tensor(-100L);
        Tensor? tiles = image
            ? torch.randn([1, 3, config.ForceImageSize, config.ForceImageSize], generator: g).to(dtype).MoveToOuterDisposeScope()
            : null;
        return new PreferenceBatch
        {
            RowIndices = [0],
            PairTiles = tiles,
            InputIds = ids.MoveToOuterDisposeScope(),
            AttentionMask = torch.ones_like(ids).MoveToOuterDisposeScope(),
            Labels = labels.MoveToOuterDisposeScope(),
            Tokens = 2L * tokens,
        };
    }
}
