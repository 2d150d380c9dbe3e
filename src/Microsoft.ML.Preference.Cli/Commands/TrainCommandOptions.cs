using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;
using static Microsoft.ML.Preference.Cli.Commands.OptionRanges;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary>
/// The flags of <c>mpo train</c>: one per <see cref="MpoTrainer.Options"/> setting that InternVL's MPO scripts set, and
/// the rest of what a run needs. A flag left out keeps the recipe's value (<c>--recipe</c>), or else the Options default;
/// a flag given overrides both. Every number is range-checked at parse time, naming the flag.
/// </summary>
internal sealed class TrainCommandOptions
{
    private static readonly MpoTrainer.Options Defaults = new();

    // Inputs and outputs.
    public readonly Option<string> Model = new("--model") { Description = "InternVL model folder to train", Required = true };
    public readonly Option<string?> Data = new("--data") { Description = "training pairs as jsonl: {\"image\", \"question\", \"chosen\", \"rejected\"} per line (or use --meta)" };
    public readonly Option<string?> Meta = new("--meta") { Description = "training pairs as an MMPR meta.json (InternVL's --meta_path): every data set it lists" };
    public readonly Option<string?> Validation = new("--validation") { Description = "validation pairs (a .jsonl, or an MMPR meta.json): eval_ metrics every --eval-steps and at the end" };
    public readonly Option<string> Output = new("--out") { Description = "output folder: checkpoints, metrics.jsonl, training-curves.png and the trained model (final/)", Required = true };
    public readonly Option<string?> ImageRoot = new("--image-root") { Description = "folder relative image paths of --data/--validation jsonl are resolved against (default: the jsonl's folder)" };

    // Recipe and precision.
    public readonly Option<string?> Recipe = OneOf(new Option<string?>("--recipe")
    {
        Description = $"a published InternVL MPO script's hyper-parameters ({string.Join(", ", MpoRecipeNames.Names)}: lr, weight decay, warm-up, cosine, max length, bf16, checkpointing, drop path, nothing frozen, batch 1 x 256); flags given override it",
    }, MpoRecipeNames.Names);
    public readonly Option<string?> DType = OneOf(new Option<string?>("--dtype") { Description = $"float32 or bfloat16 weights and activations (default {Defaults.DType})" }, "float32", "bfloat16");
    public readonly Option<bool?> MasterWeights = new("--master-weights") { Description = $"under bfloat16, keep float32 master weights and AdamW state (default {Lower(Defaults.Float32MasterWeights)}; false updates the bf16 weights in place)" };
    public readonly Option<bool?> GradientCheckpointing = new("--gradient-checkpointing") { Description = $"recompute activations in backward to save memory (default {Lower(Defaults.GradientCheckpointing)})" };
    public readonly Option<int?> MaxLength = AtLeastWhenGiven(16, new Option<int?>("--max-length") { Description = $"longest sequence in tokens (default {Defaults.MaxLength})" });
    public readonly Option<double?> DropPath = InRange(0, 1, new Option<double?>("--drop-path") { Description = $"vision tower stochastic depth while training (default {Defaults.VisionDropPathRate}, InternVL's --drop_path_rate)" });

    // What trains.
    public readonly Option<bool?> FreezeVision = new("--freeze-vision") { Description = $"keep the vision tower frozen (default {Lower(Defaults.FreezeVision)})" };
    public readonly Option<bool?> FreezeProjector = new("--freeze-projector") { Description = $"keep the mlp1 projector frozen (default {Lower(Defaults.FreezeProjector)})" };
    public readonly Option<bool?> FreezeLlm = new("--freeze-llm") { Description = $"keep the language model frozen (default {Lower(Defaults.FreezeLanguageModel)})" };
    public readonly Option<int> LoraRank = AtLeast(0, new Option<int>("--lora-rank") { Description = "train a LoRA adapter of this rank (0: full fine-tuning)", DefaultValueFactory = _ => 0 });
    public readonly Option<double?> LoraAlpha = AboveZeroWhenGiven(new Option<double?>("--lora-alpha") { Description = "LoRA alpha (default 2 x rank)" });
    public readonly Option<double?> LoraDropout = InRange(0, 1, new Option<double?>("--lora-dropout") { Description = "dropout on the LoRA input (default 0)" });
    public readonly Option<string?> LoraTargets = new("--lora-targets") { Description = "comma-separated layer names or suffixes to adapt, e.g. q_proj,v_proj (default: every linear layer of the language model)" };

    // Optimisation.
    public readonly Option<int?> Batch = AtLeastWhenGiven(1, new Option<int?>("--batch-size") { Description = $"pairs per forward pass (default {Defaults.BatchSize})" });
    public readonly Option<int?> Accumulation = AtLeastWhenGiven(1, new Option<int?>("--grad-accum") { Description = $"forward passes per optimiser step (default {Defaults.GradientAccumulationSteps})" });
    public readonly Option<bool?> GroupByLength = new("--group-by-length") { Description = $"deal each step's rows into its --grad-accum micro-batches by length, as InternVL's --group_by_length (default {Lower(Defaults.GroupByLength)})" };
    public readonly Option<int?> LengthGroupedSteps = AtLeastWhenGiven(0, new Option<int?>("--length-grouped-steps") { Description = "batch rows of similar length together across windows of this many steps, as Hugging Face's group_by_length (up to 50 there; default 0: off)" });
    public readonly Option<double?> LearningRate = AboveZeroWhenGiven(new Option<double?>("--lr") { Description = $"peak learning rate (default {Invariant(Defaults.LearningRate)})" });
    public readonly Option<double?> WeightDecay = Checked(new Option<double?>("--weight-decay") { Description = $"AdamW decoupled weight decay (default {Invariant(Defaults.WeightDecay)})" }, v => v is null || v >= 0, "at least 0");
    public readonly Option<double?> WarmupRatio = InRange(0, 1, new Option<double?>("--warmup-ratio") { Description = $"warm-up as a share of the steps (default {Invariant(Defaults.WarmupRatio)})" }, maxIncluded: true);
    public readonly Option<int?> WarmupSteps = AtLeastWhenGiven(0, new Option<int?>("--warmup-steps") { Description = "warm-up steps (overrides --warmup-ratio)" });
    public readonly Option<LearningRateScheduleKind?> Schedule = new("--schedule") { Description = $"decay after warm-up: Cosine, Linear or Constant (default {Defaults.Schedule})" };
    public readonly Option<double?> MaxGradNorm = Checked(new Option<double?>("--max-grad-norm") { Description = $"clip gradients to this global norm, 0: off (default {Invariant(Defaults.MaxGradNorm)})" }, v => v is null || v >= 0, "at least 0");
    public readonly Option<int?> Epochs = AtLeastWhenGiven(1, new Option<int?>("--epochs") { Description = $"passes over the data (default {Defaults.NumberOfEpochs})" });
    public readonly Option<int?> MaxSteps = AtLeastWhenGiven(0, new Option<int?>("--max-steps") { Description = "stop after this many steps (0: run the epochs)" });
    public readonly Option<int?> SaveSteps = AtLeastWhenGiven(0, new Option<int?>("--save-steps") { Description = "write a checkpoint every this many steps (0: only at the end)" });
    public readonly Option<int?> EvalSteps = AtLeastWhenGiven(0, new Option<int?>("--eval-steps") { Description = "evaluate on --validation every this many steps (0: only at the end)" });
    public readonly Option<bool> EvalOnStart = new("--eval-on-start") { Description = "evaluate on --validation before the first step too" };
    public readonly Option<int> Seed = new("--seed") { Description = "seed of data order, dropout and initialisation", DefaultValueFactory = _ => 0 };

    // Loss and reference.
    public readonly Option<string?> Loss = new("--loss") { Description = "loss terms as type:weight, TRL names (default sigmoid:0.8,bco_pair:0.2,sft:1.0, MPO)" };
    public readonly Option<double?> Beta = AboveZeroWhenGiven(new Option<double?>("--beta") { Description = "beta of the preference terms (default 0.1)" });
    public readonly Option<RejectedSpan> RejectedSpan = new("--rejected-span")
    {
        Description = "rejected tokens the preference terms score: WholeResponse (the paper) or FirstDivergentStep (up to the end of the first line that differs from the chosen)",
        DefaultValueFactory = _ => Trainers.RejectedSpan.WholeResponse,
    };
    public readonly Option<string?> ReferenceModel = new("--reference-model") { Description = "a separate frozen reference model folder (default: a frozen copy of --model; with LoRA the adapter-disabled base)" };
    public readonly Option<bool> Precompute = new("--precompute-reference") { Description = "compute the reference log-probs once, cached on disk" };
    public readonly Option<string?> ReferenceCache = new("--reference-cache") { Description = "folder of that cache (default: <out>/reference-cache)" };
    public readonly Option<int?> ReferenceSyncSteps = AtLeastWhenGiven(0, new Option<int?>("--ref-sync-steps") { Description = "TR-DPO: move the reference towards the policy every this many steps (0: off)" });
    public readonly Option<double?> ReferenceSyncMixup = Checked(new Option<double?>("--ref-sync-mixup") { Description = $"TR-DPO's alpha: ref <- alpha*policy + (1-alpha)*ref (default {Invariant(Defaults.ReferenceSyncMixup)})" }, v => v is null || (v > 0 && v <= 1), "above 0 and at most 1");

    // Running.
    public readonly Option<string?> Resume = new("--resume") { Description = "checkpoint folder, or 'latest'" };
    public readonly Option<bool> SkipBad = new("--skip-bad-rows") { Description = "skip and count bad rows instead of stopping" };
    public readonly Option<string> Device = new("--device") { Description = "auto (CUDA when present), cpu, cuda or cuda:N", DefaultValueFactory = _ => "auto" };
    public readonly Option<string?> SystemMessage = new("--system-message") { Description = "the system message of every prompt (default: the chat template's own)" };

    private IEnumerable<Option> All =>
    [
        Model, Data, Meta, Validation, Output, ImageRoot, Recipe, DType, MasterWeights, GradientCheckpointing, MaxLength, DropPath,
        FreezeVision, FreezeProjector, FreezeLlm, LoraRank, LoraAlpha, LoraDropout, LoraTargets, Batch, Accumulation, GroupByLength, LengthGroupedSteps, LearningRate,
        WeightDecay, WarmupRatio, WarmupSteps, Schedule, MaxGradNorm, Epochs, MaxSteps, SaveSteps, EvalSteps, EvalOnStart, Seed,
        Loss, Beta, RejectedSpan, ReferenceModel, Precompute, ReferenceCache, ReferenceSyncSteps, ReferenceSyncMixup,
        Resume, SkipBad, Device, SystemMessage,
    ];

    public void AddTo(Command command)
    {
        foreach (var option in All)
            command.Options.Add(option);
        command.Validators.Add(result =>
        {
            bool data = result.GetResult(Data) is not null, meta = result.GetResult(Meta) is not null;
            if (data == meta)
                result.AddError(data ? "Give --data or --meta, not both." : "Training pairs are required: --data FILE.jsonl or --meta DIR/meta.json.");
        });
    }

    /// <summary>The trainer's options: the recipe's (or the defaults), then every flag that was given.</summary>
    public MpoTrainer.Options ToTrainerOptions(ParseResult parse)
    {
        var o = parse.GetValue(Recipe) is { } name && MpoRecipeNames.TryParse(name, out var recipe)
            ? MpoTrainer.Options.FromRecipe(recipe)
            : new MpoTrainer.Options();
        o.ModelPath = parse.GetValue(Model)!;
        o.OutputDirectory = parse.GetValue(Output)!;
        Set(parse.GetValue(DType)?.ToLowerInvariant(), v => o.DType = v);
        Set(parse.GetValue(MasterWeights), v => o.Float32MasterWeights = v);
        Set(parse.GetValue(GradientCheckpointing), v => o.GradientCheckpointing = v);
        Set(parse.GetValue(MaxLength), v => o.MaxLength = v);
        Set(parse.GetValue(DropPath), v => o.VisionDropPathRate = v);
        Set(parse.GetValue(FreezeVision), v => o.FreezeVision = v);
        Set(parse.GetValue(FreezeProjector), v => o.FreezeProjector = v);
        Set(parse.GetValue(FreezeLlm), v => o.FreezeLanguageModel = v);
        if (parse.GetValue(LoraRank) is > 0 and var rank)
        {
            o.Lora = new LoraOptions
            {
                Rank = rank,
                Alpha = parse.GetValue(LoraAlpha) ?? 2 * rank,
                Dropout = parse.GetValue(LoraDropout) ?? 0,
                TargetModules = parse.GetValue(LoraTargets)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            };
        }
        else if (parse.GetResult(LoraAlpha) is not null || parse.GetResult(LoraDropout) is not null || parse.GetResult(LoraTargets) is not null)
        {
            throw new ArgumentException("--lora-alpha, --lora-dropout and --lora-targets need --lora-rank above 0.");
        }
        Set(parse.GetValue(Batch), v => o.BatchSize = v);
        Set(parse.GetValue(Accumulation), v => o.GradientAccumulationSteps = v);
        Set(parse.GetValue(GroupByLength), v => o.GroupByLength = v);
        Set(parse.GetValue(LengthGroupedSteps), v => o.LengthGroupedSteps = v);
        Set(parse.GetValue(LearningRate), v => o.LearningRate = v);
        Set(parse.GetValue(WeightDecay), v => o.WeightDecay = v);
        Set(parse.GetValue(WarmupRatio), v => o.WarmupRatio = v);
        Set(parse.GetValue(WarmupSteps), v => o.WarmupSteps = v);
        Set(parse.GetValue(Schedule), v => o.Schedule = v);
        Set(parse.GetValue(MaxGradNorm), v => o.MaxGradNorm = v);
        Set(parse.GetValue(Epochs), v => o.NumberOfEpochs = v);
        Set(parse.GetValue(MaxSteps), v => o.MaxSteps = v);
        Set(parse.GetValue(SaveSteps), v => o.SaveSteps = v);
        Set(parse.GetValue(EvalSteps), v => o.EvalSteps = v);
        o.EvaluateOnStart = parse.GetValue(EvalOnStart);
        o.Seed = parse.GetValue(Seed);
        var loss = parse.GetValue(Loss) is { } terms ? new PreferenceLossOptions { Terms = PreferenceLossOptions.ParseTerms(terms) } : o.Loss;
        o.Loss = parse.GetValue(Beta) is { } beta ? loss with { Beta = beta } : loss;
        o.RejectedSpan = parse.GetValue(RejectedSpan);
        if (parse.GetValue(ReferenceModel) is { } reference)
        {
            o.Reference = ReferenceModelKind.SeparateFolder;
            o.ReferenceModelPath = reference;
        }
        o.PrecomputeReferenceLogProbs = parse.GetValue(Precompute);
        o.ReferenceCacheDirectory = parse.GetValue(ReferenceCache);
        Set(parse.GetValue(ReferenceSyncSteps), v => o.ReferenceSyncSteps = v);
        Set(parse.GetValue(ReferenceSyncMixup), v => o.ReferenceSyncMixup = v);
        o.ResumeFromCheckpoint = parse.GetValue(Resume);
        o.BadRows = parse.GetValue(SkipBad) ? BadRowPolicy.Skip : BadRowPolicy.Fail;
        o.Device = parse.GetValue(Device)!;
        Set(parse.GetValue(SystemMessage), v => o.SystemMessage = v);
        return o;
    }

    private static void Set<T>(T? value, Action<T> set) where T : struct
    {
        if (value is { } v)
            set(v);
    }

    private static void Set(string? value, Action<string> set)
    {
        if (value is not null)
            set(value);
    }

    private static string Lower(bool value) => value ? "true" : "false";

    private static string Invariant(double? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "none";
}
