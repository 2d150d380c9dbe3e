using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;
using Microsoft.ML.Preference.Transformers;
using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Trainers;

/// <summary>
/// Mixed Preference Optimization of an InternVL model on (image, prompt, chosen, rejected) rows: the estimator
/// behind <c>mlContext.Preference.Trainers.Mpo(...)</c>. Fit trains and returns an <see cref="MpoTransformer"/>
/// that answers with reasoning. Any TRL preference loss, or a weighted mix, can replace the MPO default.
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// To create this trainer, use [Mpo](xref:Microsoft.ML.Preference.PreferenceTrainers.Mpo(Microsoft.ML.Preference.Trainers.MpoTrainer.Options))
/// or [Mpo(modelPath, ...)](xref:Microsoft.ML.Preference.PreferenceTrainers.Mpo(System.String,System.String,System.String,System.String,System.String,System.Int32,System.Double)).
///
/// ### Input and Output Columns
/// The column names are the options' (`ImageColumnName`, `PromptColumnName`, `ChosenColumnName`,
/// `RejectedColumnName`); their defaults are the constants of <xref:Microsoft.ML.Preference.Data.PreferenceColumnNames>.
///
/// | Input column name | Data type | Description |
/// | -- | -- | -- |
/// | `Image` | <xref:Microsoft.ML.Data.MLImage>, text (a path), or vector of text (paths, for multi-image rows) | The row's images, tiled as InternVL does; relative paths resolve against `ImageRoot`. Optional: set `ImageColumnName` to null for text-only data. |
/// | `Prompt` | text | The question; may hold `<image>` placeholders. Trained on as given, so it carries the instructions the responses were sampled with. |
/// | `Chosen` | text | The preferred response. |
/// | `Rejected` | text | The dispreferred response. |
/// | `MaxDynamicPatch` | <xref:System.Int32> | Optional: the row's own most tiles per image (0: the model's); MMPR data carries its data set's `max_dynamic_patch` here. |
///
/// The trained <xref:Microsoft.ML.Preference.Transformers.MpoTransformer> reads the image and prompt columns it was
/// trained with, passes every input column through, and adds:
///
/// | Output column name | Data type | Description |
/// | -- | -- | -- |
/// | `Response` | text | The generated response: a chain of thought, or the direct answer, as `AnswerMode` says. |
/// | `Answer` | text | The final answer extracted from the response; empty when the response does not follow the expected format. |
///
/// ### Trainer Characteristics
/// |  |  |
/// | -- | -- |
/// | Machine learning task | Preference optimization of a vision-language model (MPO: DPO sigmoid + BCO pair + SFT) |
/// | Is normalization required? | No (images are normalized as InternVL's preprocessing does) |
/// | Is caching required? | No (rows are read in a streaming way, with background loading) |
/// | Required NuGet in addition to Microsoft.ML | Microsoft.ML.Preference, and a TorchSharp backend (TorchSharp-cpu or TorchSharp-cuda-linux) |
/// | Exportable to ONNX | No |
///
/// ### Training Algorithm Details
/// Each pair's chosen and rejected rows are scored by the policy and by a frozen reference (the initial policy, a
/// separate folder, or with LoRA the base with adapters disabled); the loss is the weighted sum of
/// `Options.Loss`'s terms (or ORPO's reference-free loss with `UseOrpo`), optimised with AdamW under a warm-up and a
/// cosine, linear or constant schedule. See
/// docs/training-and-losses.md in the repository for the losses, the recipes and the checkpoints.
/// ]]>
/// </format>
/// </remarks>
/// <seealso cref="Options"/>
/// <seealso cref="PreferenceTrainers.Mpo(Options)"/>
public sealed partial class MpoTrainer : IEstimator<MpoTransformer>
{
    private readonly MLContext _context;
    private readonly IHost _host;

    /// <summary>The options it trains with.</summary>
    public Options TrainerOptions { get; }

    internal MpoTrainer(MLContext context, Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _context = context;
        _host = ((IHostEnvironment)context).Register(nameof(MpoTrainer));
        TrainerOptions = options;
        Validate(options);
    }

    private PreferenceColumns Columns => new(TrainerOptions.ImageColumnName, TrainerOptions.PromptColumnName,
        TrainerOptions.ChosenColumnName, TrainerOptions.RejectedColumnName);

    private static void Validate(Options o)
    {
        void Require(bool ok, string option, string rule)
        {
            if (!ok)
                throw new ArgumentOutOfRangeException(option, $"MpoTrainer.Options.{option}: {rule}.");
        }
        Require(!string.IsNullOrWhiteSpace(o.ModelPath), nameof(o.ModelPath), "a model folder is required");
        Require(o.BatchSize >= 1, nameof(o.BatchSize), $"must be at least 1, not {o.BatchSize}");
        Require(o.GradientAccumulationSteps >= 1, nameof(o.GradientAccumulationSteps), "must be at least 1");
        Require(o.NumberOfEpochs >= 1 || o.MaxSteps > 0, nameof(o.NumberOfEpochs), "must be at least 1 (or set MaxSteps)");
        Require(o.MaxSteps >= 0, nameof(o.MaxSteps), "must be 0 (use the epochs) or positive");
        Require(o.LearningRate > 0, nameof(o.LearningRate), "must be positive");
        Require(o.WarmupRatio is >= 0 and <= 1, nameof(o.WarmupRatio), "must be in [0, 1]");
        Require(o.WarmupSteps is null or >= 0, nameof(o.WarmupSteps), "must be 0 or positive (or null to use WarmupRatio)");
        Require(o.WeightDecay >= 0 && double.IsFinite(o.WeightDecay), nameof(o.WeightDecay), "must be 0 or positive");
        Require(o.VisionDropPathRate is null or (>= 0 and < 1), nameof(o.VisionDropPathRate), "must be in [0, 1) (or null to keep the model's)");
        Require(o.SaveSteps >= 0, nameof(o.SaveSteps), "must be 0 (only at the end) or positive");
        Require(o.EvalSteps >= 0, nameof(o.EvalSteps), "must be 0 (only at the end) or positive");
        Require(o.DivergenceFactor == 0 || o.DivergenceFactor > 1, nameof(o.DivergenceFactor), "must be 0 (off) or above 1");
        Require(o.DataLoaderWorkers is >= 0 and <= 64, nameof(o.DataLoaderWorkers), $"must be between 0 (load on the training thread) and 64, not {o.DataLoaderWorkers}");
        Require(o.DataLoaderPrefetchFactor >= 1, nameof(o.DataLoaderPrefetchFactor), $"must be at least 1, not {o.DataLoaderPrefetchFactor}");
        Require(o.LengthGroupedSteps >= 0, nameof(o.LengthGroupedSteps), $"must be 0 (off) or a number of steps, not {o.LengthGroupedSteps}");
        Require(o.MaxLength >= 16, nameof(o.MaxLength), "must be at least 16");
        Require(o.DType is "float32" or "bfloat16", nameof(o.DType), "must be \"float32\" or \"bfloat16\"");
        Require(o.ReferenceSyncMixup is > 0 and <= 1, nameof(o.ReferenceSyncMixup), "must be in (0, 1]");
        Require(o.ReferenceSyncSteps >= 0, nameof(o.ReferenceSyncSteps), "must be 0 (off) or positive");
        Require(o.Reference != ReferenceModelKind.SeparateFolder || !string.IsNullOrWhiteSpace(o.ReferenceModelPath),
            nameof(o.ReferenceModelPath), "is required when Reference is SeparateFolder");
        Require(o.ReferenceSyncSteps == 0 || (o.Lora is null && !o.PrecomputeReferenceLogProbs && !o.UseOrpo), nameof(o.ReferenceSyncSteps),
            "TR-DPO moves a separate reference model: it cannot be combined with LoRA's adapter-disabled reference, precomputed log-probs or ORPO");
        Require(o.ReferenceSyncSteps == 0 || !o.Loss.IsSftOnly, nameof(o.ReferenceSyncSteps),
            "TR-DPO moves the reference model, but a loss of sft terms alone has none: add a preference term or set it to 0");
        Require(!(o.FreezeVision && o.FreezeProjector && o.FreezeLanguageModel && o.Lora is null), nameof(o.FreezeLanguageModel),
            "everything is frozen and there is no LoRA adapter: nothing would be trained");
        o.Loss.Validate();
        o.Generation.Validate();
    }

    /// <summary>The input columns must be present and of the right types; adds Response and Answer.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        SchemaShape.Column? Find(string name) => inputSchema.Where(c => c.Name == name).Select(c => (SchemaShape.Column?)c).LastOrDefault();
        foreach (var name in new[] { TrainerOptions.PromptColumnName, TrainerOptions.ChosenColumnName, TrainerOptions.RejectedColumnName })
        {
            var column = Find(name) ?? throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Input column '{name}' is missing.");
            if (column.ItemType is not TextDataViewType || column.Kind != SchemaShape.Column.VectorKind.Scalar)
                throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Input column '{name}' must be text, not {column.ItemType}.");
        }
        if (TrainerOptions.ImageColumnName is { } image && Find(image) is null)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Image column '{image}' is missing.");
        return ResponseColumns.AddTo(_context, inputSchema);
    }

    /// <summary>Trains on <paramref name="input"/>.</summary>
    public MpoTransformer Fit(IDataView input) => Fit(input, null);

    /// <summary>Trains on <paramref name="trainData"/>, reporting eval_ metrics on <paramref name="validationData"/>.</summary>
    public MpoTransformer Fit(IDataView trainData, IDataView? validationData)
    {
        ArgumentNullException.ThrowIfNull(trainData);
        var o = TrainerOptions;
        Columns.Validate(trainData.Schema);
        if (validationData is not null)
            Columns.Validate(validationData.Schema, "validation data");
        using var channel = _host.Start("MPO training");
        void Log(string message) => channel.Info(MessageSensitivity.None, message);
        // Warnings are what a console must show (the CLI prints this kind): skipped rows, truncation, recovered state.
        void Warn(string message) => channel.Warning(MessageSensitivity.None, message);

        // One run per output folder: a second is refused at once, naming the holder; a killed run's lock is taken over.
        using var outputLock = o.OutputDirectory is null ? null : OutputLock.ForFolder(o.OutputDirectory);
        if (outputLock?.TakeOverNotice is { } takeOver)
            Warn(takeOver);
        if (o.OutputDirectory is not null)
            foreach (var removed in TrainingCheckpoint.RemoveUnfinished(o.OutputDirectory))
                Warn($"Removed {removed}: a checkpoint whose writing did not finish (the run that wrote it was stopped during it).");

        TorchRuntime.Initialize();
        if (o.Threads is int threads)
        {
            if (threads < 1)
                throw new ArgumentOutOfRangeException(nameof(o.Threads), threads, $"MpoTrainer.Options.Threads must be at least 1 (or null for the cores this process may use), not {threads}.");
            TorchThreads.Apply(threads, "MpoTrainer.Options.Threads");
        }
        int seed = o.Seed ?? _host.Rand.Next();
        var device = TorchDevices.Resolve(o.Device, "MpoTrainer.Options.Device");
        var dtype = o.DType == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        if (device.type == DeviceType.CPU && dtype == ScalarType.BFloat16 && CpuBf16Support.SlowBf16Warning("MpoTrainer.Options.DType (mpo train --dtype)") is { } slowBf16)
            Warn(slowBf16);
        torch.manual_seed(seed);

        var vlm = VisionLanguageModel.Load(o.ModelPath, dtype, device, o.MaxLength, o.SystemMessage);
        LoraAdapter? adapter = null;
        IReferenceLogProbs? reference = null;
        PreferenceRowSource? rowSource = null;
        try
        {
            Log($"Loaded {o.ModelPath} ({vlm.Model.Config.Language.Architecture}, {dtype}, {device}); seed {seed}.");
            vlm.Model.GradientCheckpointing = o.GradientCheckpointing;
            if (o.VisionDropPathRate is { } dropPath)
                vlm.Model.VisionModel.Encoder.SetDropPathRate(dropPath);
            var checkpoint = o.ResumeFromCheckpoint is null ? null : TrainingCheckpoint.Resolve(o.ResumeFromCheckpoint, o.OutputDirectory);
            Freeze(vlm.Model, o);
            IReadOnlyList<Parameter> trainable;
            if (o.Lora is not null)
            {
                adapter = checkpoint is null
                    ? LoraAdapter.Attach(vlm.Model, o.Lora with { Seed = o.Lora.Seed == 0 ? seed : o.Lora.Seed })
                    : LoraAdapter.Load(vlm.Model, Path.Combine(checkpoint, TrainingCheckpoint.AdapterFolder), trainable: true);
                adapter.FreezeBaseModel();
                trainable = adapter.parameters().ToList();
            }
            else
            {
                if (checkpoint is not null)
                    ModuleCheckpoint.LoadInto(vlm.Model, Path.Combine(checkpoint, TrainingCheckpoint.ModelFolder));
                trainable = vlm.Model.parameters().Where(p => p.requires_grad).ToList();
            }
            Log($"Training {trainable.Sum(p => p.numel()):N0} parameters" + (adapter is null ? "" : $" of a rank-{o.Lora!.Rank} LoRA adapter")
                + (trainable.Any(p => p.dtype != ScalarType.Float32) ? (o.Float32MasterWeights ? ", with float32 master weights." : ", updated in bf16 in place (no master weights).") : "."));

            var preparer = new PreferenceRowPreparer(vlm, o.RejectedSpan);
            var dataClock = System.Diagnostics.Stopwatch.StartNew();
            // Rows are read as the run reaches them (PreferenceRowSource: an MMPR file is only indexed here); only
            // precomputed reference log-probs need every row up front, and then the rows that pass are what trains.
            var skippedUpFront = new Dictionary<string, int>();
            List<PreparedRow>? allRows = o.PrecomputeReferenceLogProbs && !o.UseOrpo && !o.Loss.IsSftOnly
                ? Prepare(trainData, preparer, o, skippedUpFront, Warn) : null;
            rowSource = allRows is null
                ? PreferenceRowSource.For(trainData, Columns, o.ImageRoot, o.CancellationToken)
                : new InMemoryRowSource(allRows.Select(r => r.Example).ToList(), "rows checked before training");
            var validationRows = validationData is null ? [] : Prepare(validationData, preparer, o, new Dictionary<string, int>(), Warn);
            if (rowSource.Count == 0)
                throw new InvalidOperationException("No usable training rows: " + (skippedUpFront.Count == 0 ? "the data is empty." : string.Join(", ", skippedUpFront.Select(kv => $"{kv.Value} {kv.Key}"))));
            var instructions = o.Instructions ?? InstructionTemplate.Detect(LeadingPrompts(rowSource)) ?? InstructionTemplate.Default;
            Log($"Prediction asks with the '{instructions.Name}' instruction template" + (o.Instructions is null ? " (the one the training prompts carry, or the default)." : "."));
            Log($"Training input: {rowSource.Description} in {dataClock.Elapsed.TotalSeconds:F1} s; {o.DataLoaderWorkers} data-loader worker(s), " +
                $"prefetch {o.DataLoaderWorkers * o.DataLoaderPrefetchFactor} micro-batches" + (o.GroupByLength ? ", grouped by length within steps" : "") +
                (o.LengthGroupedSteps > 0 ? $", grouped by length across windows of {o.LengthGroupedSteps} steps." : "."));

            var loss = new PreferenceLoss(o.Loss);
            // A loss of sft terms alone reads no reference: none is built (and the rejected rows are not run).
            reference = o.UseOrpo || o.Loss.IsSftOnly ? null : CreateReference(vlm, adapter, o, device, dtype, checkpoint);
            if (reference is null && !o.UseOrpo)
                Log("Loss is SFT only: training on the chosen responses, without a reference model.");
            if (reference is not null && o.PrecomputeReferenceLogProbs)
            {
                string key = o.Reference == ReferenceModelKind.SeparateFolder
                    ? Fingerprints.ModelFolder(o.ReferenceModelPath!)
                    : Fingerprints.ModelFolder(o.ModelPath, adapter is null ? "initial-policy" : "lora-base");
                var cacheDir = o.ReferenceCacheDirectory ?? Path.Combine(o.OutputDirectory ?? Path.GetTempPath(), "reference-cache");
                var source = reference;
                reference = ReferenceLogProbCache.Build(allRows!.Concat(validationRows).ToList(), source, key, cacheDir,
                    r => PreferenceBatch.Create(r, preparer, vlm.Prompts.Encoder.PadId, device), o.BatchSize, Log, o.CancellationToken);
                if (source is not AdapterDisabledReference)
                    source.Dispose(); // the frozen copy is no longer needed: free its memory before training
            }
            if (reference is not null)
                Log($"Reference: {reference.Description}.");

            var metricsPath = o.OutputDirectory is null ? null : Path.Combine(o.OutputDirectory, "metrics.jsonl");
            var resumedState = checkpoint is null ? null : TrainingCheckpoint.ReadState(checkpoint);
            using var metricsLog = new MetricsLog(metricsPath, resumedState?.Step ?? 0);
            // Skips found before training (the precompute pass) plus those of the run so far, when resuming.
            var input = new InputAccounting(resumedState?.SkippedRows ?? skippedUpFront);
            var progressChannel = _host.StartProgressChannel("MPO training");
            var setup = new TrainingSetup
            {
                Policy = vlm,
                Trainable = trainable,
                Reference = reference,
                Loss = loss,
                Rows = rowSource,
                ValidationRows = validationRows,
                Preparer = preparer,
                Options = o,
                Seed = seed,
                DataFingerprint = Fingerprints.Input(rowSource, o),
                Input = input,
                ResumeCheckpoint = checkpoint,
                PrefetchFullSignal = o.PrefetchFullSignal,
                Report = (message, metrics) =>
                {
                    Log(message);
                    if (metrics is null)
                        return;
                    metricsLog.Write(metrics);
                    o.Progress?.Report(metrics);
                },
                WriteCheckpointContents = dir => WriteCheckpoint(dir, vlm, adapter, reference, o),
            };
            var loop = new PreferenceTrainingLoop(setup);
            Log($"{rowSource.Count} pairs, {loop.StepsPerEpoch} steps per epoch, {loop.TotalSteps} steps (batch {o.BatchSize} x {o.GradientAccumulationSteps}).");
            try
            {
                RunWithProgress(loop, o.ShowProgress, progressChannel);
            }
            finally
            {
                ReportInput(input, o, Warn);
            }
            progressChannel.Dispose();
            metricsLog.Dispose();

            // The whole run's curves: after a resume, metrics.jsonl holds the steps before it too (this process only saw its own).
            var curves = metricsPath is not null && File.Exists(metricsPath) ? MetricsLog.Read(metricsPath) : loop.History;
            if (o.OutputDirectory is not null && curves.Count > 0)
            {
                var png = Path.Combine(o.OutputDirectory, "training-curves.png");
                MetricsPlot.Write(png, curves, TrainingMetricNames.Plotted, $"MPO training ({o.Loss.Terms.Count} loss terms, β {o.Loss.Beta})");
                Log($"Curves: {png} (steps {curves[0].Step} to {curves[^1].Step})");
            }

            reference?.Dispose();
            reference = null;
            if (adapter is not null && o.MergeAdapterAfterTraining)
            {
                adapter.Merge();
                adapter.Detach();
                adapter.Dispose();
                adapter = null;
            }
            foreach (var p in vlm.Model.parameters())
                p.requires_grad = false;
            vlm.Model.eval();
            rowSource.Dispose();
            return new MpoTransformer(_context, vlm, adapter, o.AnswerMode, instructions, o.Generation, o.ImageColumnName, o.PromptColumnName, loop.History.ToList(), input.Skipped);
        }
        catch
        {
            rowSource?.Dispose();
            reference?.Dispose();
            adapter?.Dispose();
            vlm.Dispose();
            throw;
        }
    }

    private static void RunWithProgress(PreferenceTrainingLoop loop, bool console, IProgressChannel channel)
    {
        int done = 0;
        channel.SetHeader(new ProgressHeader(["loss"], ["step"]), e =>
        {
            e.SetProgress(0, done, loop.TotalSteps);
            if (loop.History.Count > 0)
                e.SetMetric(0, loop.History[^1]["loss"]);
        });
        if (!console)
        {
            loop.Run((step, _) => done = step);
            return;
        }
        ConsoleProgress.Run("MPO training", loop.TotalSteps, report =>
            loop.Run((step, total) =>
            {
                done = step;
                var m = loop.History[^1];
                report(step, double.IsNaN(m["rewards/accuracies"])
                    ? $"step {step}/{total} loss {m["loss"]:F4}"
                    : $"step {step}/{total} loss {m["loss"]:F4} acc {m["rewards/accuracies"]:F2}");
            }));
    }

    private static void Freeze(InternVLChatModel model, Options o)
    {
        foreach (var (name, p) in model.named_parameters())
        {
            bool frozen = (o.FreezeVision && name.StartsWith("vision_model.", StringComparison.Ordinal))
                          || (o.FreezeProjector && name.StartsWith("mlp1.", StringComparison.Ordinal))
                          || (o.FreezeLanguageModel && name.StartsWith("language_model.", StringComparison.Ordinal));
            p.requires_grad = !frozen;
        }
    }

    private static IReferenceLogProbs CreateReference(VisionLanguageModel vlm, LoraAdapter? adapter, Options o, Device device, ScalarType dtype, string? checkpoint)
    {
        if (adapter is not null && o.Reference == ReferenceModelKind.InitialPolicy)
            return new AdapterDisabledReference(vlm.Model, adapter, o.ShareImageEncoding);
        var folder = o.Reference == ReferenceModelKind.SeparateFolder ? o.ReferenceModelPath! : o.ModelPath;
        var model = InternVLModelFolder.Load(folder, dtype, device, imageContextTokenId: vlm.Model.ImageContextTokenId);
        if (checkpoint is not null && Directory.Exists(Path.Combine(checkpoint, TrainingCheckpoint.ReferenceFolder)))
            ModuleCheckpoint.LoadInto(model, Path.Combine(checkpoint, TrainingCheckpoint.ReferenceFolder));
        return new FrozenModelReference(model, o.ShareImageEncoding,
            o.Reference == ReferenceModelKind.SeparateFolder ? $"the frozen model in {folder}" : "a frozen copy of the initial policy");
    }

    private static void WriteCheckpoint(string dir, VisionLanguageModel vlm, LoraAdapter? adapter, IReferenceLogProbs? reference, Options o)
    {
        if (adapter is not null)
            adapter.Save(Path.Combine(dir, TrainingCheckpoint.AdapterFolder));
        else
            InternVLModelFolder.Save(vlm.Model, Path.Combine(dir, TrainingCheckpoint.ModelFolder), tokenizerSource: vlm.Folder);
        if (o.ReferenceSyncSteps > 0 && reference is FrozenModelReference frozen)
            ModuleCheckpoint.Save(frozen.Model, Path.Combine(dir, TrainingCheckpoint.ReferenceFolder));
    }

    /// <summary>The final report of the streamed input: skips by reason and rows cut to MaxLength.</summary>
    private static void ReportInput(InputAccounting input, Options o, Action<string> log)
    {
        if (input.SkippedSummary() is { } skipped)
            log($"Skipped rows: {skipped}.");
        if (input.FirstTruncated is { } first)
            log(TruncationWarning(input.Truncated, input.RowsMet, first, o.MaxLength));
    }

    // Truncation (our rule, see PromptBuilder: responses first, then prompt text) is silent per row; a run where it bites must say
    // so, or a MaxLength that leaves one response token trains to a loss of 0 on nothing.
    private static string TruncationWarning(int truncated, int rows, PreparedRow first, int maxLength)
    {
        var c = first.Pair.Chosen.Truncation;
        return $"Warning: {truncated} of {rows} rows were cut to MaxLength {maxLength} (first: data row {first.RowIndex + 1}, chosen lost " +
               $"{c.ResponseTokensRemoved + c.ClosingTokensRemoved} response and {c.PromptTokensRemoved} prompt tokens); raise MaxLength or shorten the prompts.";
    }

    /// <summary>
    /// The prompts of the first rows (at most 256), from which the trainer learns the instruction template its data was
    /// built with. Reading them costs no image work; a row that cannot be read is left to the loop, which meets it in turn.
    /// </summary>
    private static List<string> LeadingPrompts(PreferenceRowSource rows)
    {
        var prompts = new List<string>();
        for (int i = 0; i < Math.Min(256, rows.Count); i++)
        {
            try
            {
                prompts.Add(rows.Read(i).Prompt);
            }
            catch (BadRowException)
            {
            }
        }
        return prompts;
    }

    private static List<PreparedRow> Prepare(IDataView data, PreferenceRowPreparer preparer, Options o, Dictionary<string, int> skipped, Action<string> log)
    {
        var columns = new PreferenceColumns(o.ImageColumnName, o.PromptColumnName, o.ChosenColumnName, o.RejectedColumnName);
        var rows = new List<PreparedRow>();
        foreach (var example in PreferenceDataReader.Read(data, columns, o.ImageRoot))
        {
            o.CancellationToken.ThrowIfCancellationRequested();
            try
            {
                rows.Add(preparer.Prepare(example));
            }
            catch (BadRowException e) when (o.BadRows == BadRowPolicy.Skip)
            {
                skipped[e.Reason.ToString()] = skipped.GetValueOrDefault(e.Reason.ToString()) + 1;
            }
        }
        if (skipped.Count > 0)
            log($"Skipped rows: {string.Join(", ", skipped.Select(kv => $"{kv.Key} {kv.Value}"))}.");
        var truncated = rows.Where(r => r.Pair.Chosen.Truncation.IsTruncated || r.Pair.Rejected.Truncation.IsTruncated).ToList();
        if (truncated.Count > 0)
            log(TruncationWarning(truncated.Count, rows.Count, truncated[0], o.MaxLength));
        return rows;
    }
}
