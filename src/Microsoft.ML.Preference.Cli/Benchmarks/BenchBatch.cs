using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>
/// The benchmark configuration (bench/bench-config.json, a copy of the team's reference file): an InternVL
/// config for random weights plus the batch, loss, optimiser and measurement every benchmark reports against.
/// </summary>
internal sealed record BenchConfig(
    InternVLConfig Model, long ImageContextId, int Pairs, int TilesPerSample, int PromptTextTokens, int ChosenTokens,
    int RejectedTokens, int Warmup, int Timed, int Threads, double MatmulGflopPerStep, JsonObject Raw)
{
    public const string DefaultPath = "bench/bench-config.json";

    public int Sequences => 2 * Pairs;
    public int PromptTokens => 2 + Model.NumImageToken * TilesPerSample + PromptTextTokens;
    public int SequenceLength => PromptTokens + Math.Max(ChosenTokens, RejectedTokens);
    public int TokensPerStep => Sequences * SequenceLength;

    public static BenchConfig Load(string path)
    {
        var model = InternVLConfig.Load(path);
        var raw = model.Raw!;
        var batch = raw["batch"]!.AsObject();
        var measurement = raw["measurement"]!.AsObject();
        if (batch["chosen_response_tokens"]!.GetValue<int>() != batch["rejected_response_tokens"]!.GetValue<int>())
            throw new InvalidDataException($"{path}: the benchmark batch has no padding; chosen and rejected lengths must be equal.");
        return new BenchConfig(
            model,
            raw["img_context_token_id"]!.GetValue<long>(),
            batch["num_pairs"]!.GetValue<int>(),
            batch["tiles_per_sample"]!.GetValue<int>(),
            batch["prompt_text_tokens"]!.GetValue<int>(),
            batch["chosen_response_tokens"]!.GetValue<int>(),
            batch["rejected_response_tokens"]!.GetValue<int>(),
            measurement["warmup_steps"]!.GetValue<int>(),
            measurement["timed_steps"]!.GetValue<int>(),
            measurement["threads"]!.GetValue<int>(),
            measurement["matmul_gflop_per_step"]!.GetValue<double>(),
            raw);
    }

    /// <summary>
    /// One preference step's inputs in the configured layout: per row &lt;img&gt;, &lt;IMG_CONTEXT&gt;×(64·tiles),
    /// &lt;/img&gt;, prompt text, response; rows 0..P-1 chosen, P..2P-1 rejected; pixel values for the P pairs.
    /// </summary>
    public (Tensor PairPixels, Tensor InputIds, Tensor Labels) MakeBatch(long seed)
    {
        using var scope = torch.NewDisposeScope();
        var g = new Generator((ulong)seed);
        var special = Section("special_tokens");
        long imgStart = special["<img>"]!.GetValue<long>(), imgEnd = special["</img>"]!.GetValue<long>();
        long wordLimit = special.Select(kv => kv.Value!.GetValue<long>()).Min();
        int imageTokens = Model.NumImageToken * TilesPerSample;
        var ids = torch.randint(0, wordLimit, [Sequences, SequenceLength], dtype: ScalarType.Int64, generator: g);
        ids[.., 0] = torch.tensor(imgStart);
        ids[.., 1..(1 + imageTokens)] = torch.tensor(ImageContextId);
        ids[.., 1 + imageTokens] = torch.tensor(imgEnd);
        var labels = ids.clone();
        labels[.., ..PromptTokens] = torch.tensor(-100L);
        int side = Model.ForceImageSize;
        var pixels = torch.randn([Pairs * TilesPerSample, 3, side, side], generator: g);
        return (pixels.MoveToOuterDisposeScope(), ids.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    private JsonObject Section(string key) => Raw[key]!.AsObject();
}
