using System.Diagnostics;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Data.Synthetic;
using Microsoft.ML.Preference.Evaluation;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;
using Microsoft.ML.Preference.Transformers;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Quickstart;

/// <summary>One model's accuracy in both answer modes.</summary>
internal sealed record ModelScores(string Name, AccuracyMetrics Direct, AccuracyMetrics ChainOfThought);

/// <summary>
/// The paper's claim in miniature, on the built-in synthetic visual-reasoning set: (1) a tiny InternVL-style model
/// learns the tasks by SFT on rationales and direct answers, then, like a real model tuned on instruction data rich in
/// short answers, learns to answer most CoT prompts without reasoning (the base); (2) correctness-based pairs are
/// built from the base's own samples; (3) from the same base, SFT on the chosen responses and MPO on the pairs; (4)
/// Direct and CoT accuracy of base, SFT and MPO on the test split, as a table and a PNG. A fourth row, MPO-step, is
/// MPO with each rejected response scored only up to the end of its first wrong step (see the README's Quickstart).
/// </summary>
internal sealed partial class QuickstartRunner
{
    private readonly QuickstartOptions _o;
    private readonly MLContext _ml;
    private readonly CancellationToken _cancel;

    /// <param name="options">Sizes of the run.</param>
    /// <param name="cancel">Stops training at a step boundary, pair building after the current question, and evaluation
    /// between models; what is finished stays in the output folder for the next run.</param>
    public QuickstartRunner(QuickstartOptions options, CancellationToken cancel = default)
    {
        _o = options;
        _ml = new MLContext(seed: options.Seed);
        _cancel = cancel;
    }

    /// <summary>
    /// The prompts of every stage: this package's own template, the one the quickstart's table was measured with (MMPR's
    /// would change the tiny tokenizer's corpus and every prompt's tokens). The base is taught with it, the pairs are
    /// sampled with it and store its prompts, and the trained models ask with it because their training prompts carry it.
    /// </summary>
    internal static readonly InstructionTemplate Instructions = InstructionTemplate.MlNet;

    /// <summary>Adjusts every training run's options after the runner has set them (tests watch or stop steps with it).</summary>
    internal Action<MpoTrainer.Options>? ConfigureTraining { get; init; }

    public IReadOnlyList<ModelScores> Run()
    {
        var clock = Stopwatch.StartNew();
        var (data, baseDir, baseHistory, pairRows) = PrepareBaseAndPairs();

        Step("5/6 from the same base: SFT on the chosen responses, MPO on the pairs, and MPO scoring rejected responses to their first wrong step");
        var trained = ComparedRuns(_o.Beta).Select(run =>
        {
            var dir = Path.Combine(_o.OutputFolder, run.Name.ToLowerInvariant());
            return (run.Name, Dir: dir, History: Train(baseDir, pairRows, run.Loss, _o.PreferenceEpochs, _o.PreferenceLearningRate, QuickstartOptions.PreferenceBatchSize, dir, run.Name.ToLowerInvariant(), run.Change));
        }).ToList();

        Step("6/6 Direct vs CoT accuracy on the test split");
        var test = TestSet(data);
        var scores = new List<ModelScores> { Evaluate("base", baseDir, test) };
        scores.AddRange(trained.Select(t => Evaluate(t.Name, t.Dir, test)));
        QuickstartReport.Print(scores);
        var png = Path.Combine(_o.OutputFolder, "quickstart.png");
        var baseLabel = _o.ShortCotShare > 0 ? "base (rationales, then short-answer tuning)" : "base (SFT on rationales)";
        QuickstartReport.WritePng(png, scores, [(baseLabel, baseHistory), .. trained.Select(t => (t.Name, t.History))]);
        AnsiConsole.WriteLine($"Figure: {Path.GetFullPath(png)}");
        AnsiConsole.WriteLine($"Seed {_o.Seed}; total {clock.Elapsed.TotalMinutes:F1} min. Rerun with the same seed to reproduce the table.");
        return scores;
    }

    /// <summary>
    /// The runs every table is read against, trained from the base by the quickstart and first in the ablation: SFT on
    /// the chosen responses, MPO, and MPO scoring each rejected response to the end of its first wrong step.
    /// </summary>
    internal static IReadOnlyList<(string Name, PreferenceLossOptions Loss, Action<MpoTrainer.Options>? Change)> ComparedRuns(double beta) =>
    [
        ("SFT", PreferenceLossOptions.Single(PreferenceLossType.Sft, beta), null),
        ("MPO", PreferenceLossOptions.Mpo with { Beta = beta }, null),
        ("MPO-step", PreferenceLossOptions.Mpo with { Beta = beta }, o => o.RejectedSpan = RejectedSpan.FirstDivergentStep),
    ];

    /// <summary>The test split as an IDataView (Image, Prompt, AnswerGt, Rationale, Family).</summary>
    public IDataView TestSet(SyntheticReasoningDataset data) => _ml.Data.LoadFromEnumerable(data.Test.Select(i => i.ToRow()));

    /// <summary>Steps 1-4: data, tiny model, base model and pairs. Reuses a base and pairs already in the output folder.</summary>
    public (SyntheticReasoningDataset Data, string BaseDir, IReadOnlyList<TrainingMetrics> BaseHistory, IReadOnlyList<PairRow> Pairs) PrepareBaseAndPairs()
    {
        var (data, baseDir, baseHistory) = PrepareBase();
        return (data, baseDir, baseHistory, BuildPairs(data, baseDir));
    }

    /// <summary>Steps 1-2: the synthetic data and the tiny untrained model with its tokenizer (the base's starting point).</summary>
    internal (SyntheticReasoningDataset Data, string ModelDir) PrepareDataAndModel()
    {
        Directory.CreateDirectory(_o.OutputFolder);
        AnsiConsole.MarkupLineInterpolated($"[bold]MPO quickstart[/]: seed {_o.Seed}, output {Path.GetFullPath(_o.OutputFolder)}");

        Step("1/6 synthetic visual-reasoning data");
        var data = SyntheticReasoningGenerator.Generate(new SyntheticReasoningOptions
        {
            OutputFolder = Path.Combine(_o.OutputFolder, "data"), TrainCount = _o.TrainItems, TestCount = _o.TestItems, Seed = _o.Seed,
        });
        AnsiConsole.WriteLine($"   {data.Train.Count} train / {data.Test.Count} test items, families: {string.Join(", ", data.Train.Select(i => i.Family).Distinct())}");

        Step("2/6 a tiny InternVL model and its tokenizer");
        var modelDir = Path.Combine(_o.OutputFolder, "tiny-internvl");
        var corpus = data.Train.SelectMany(i => new[]
        {
            Instructions.Apply(i.Question, AnswerMode.ChainOfThought), Instructions.Apply(i.Question, AnswerMode.Direct), i.Rationale, i.Answer,
        });
        TinyInternVLFactory.Create(modelDir, corpus, new TinyInternVLOptions
        {
            Hidden = _o.Hidden, Layers = _o.Layers, Heads = 4, Merges = _o.TokenizerMerges, Seed = _o.Seed,
            VisionHidden = _o.VisionHidden, VisionLayers = _o.VisionLayers,
        });
        return (data, modelDir);
    }

    /// <summary>
    /// Steps 1-3: data, tiny model and base model. A base already in the output folder is reused when it was made with
    /// the same settings (its curve then comes from its metrics log); one made with other settings is refused.
    /// </summary>
    public (SyntheticReasoningDataset Data, string BaseDir, IReadOnlyList<TrainingMetrics> BaseHistory) PrepareBase()
    {
        var (data, modelDir) = PrepareDataAndModel();

        Step("3/6 the base model: SFT on rationales (CoT) and answers (Direct)");
        // Without the short-answer stage the first stage is the base; with it, the first stage keeps a folder of its own.
        var baseDir = Path.Combine(_o.OutputFolder, "base");
        var rationalesName = _o.ShortCotShare > 0 ? "base-rationales" : "base";
        var rationalesDir = Path.Combine(_o.OutputFolder, rationalesName);
        var rationales = ReuseOrTrainBase(modelDir, BaseTeachingRows(data.Train, 0, _o.Seed), rationalesDir, rationalesName,
            QuickstartBaseSettings.From(_o with { ShortCotShare = 0 }), _o.BaseEpochs, _o.BaseLearningRate);
        if (_o.ShortCotShare <= 0)
            return (data, baseDir, rationales);

        Step($"3b/6 the base's instruction tuning: {_o.ShortCotShare:P0} of the CoT prompts answered without reasoning");
        var shortAnswers = ReuseOrTrainBase(rationalesDir, BaseTeachingRows(data.Train, _o.ShortCotShare, _o.Seed), baseDir, "base",
            QuickstartBaseSettings.From(_o), _o.ShortAnswerEpochs, _o.ShortAnswerLearningRate);
        int offset = rationales.Count == 0 ? 0 : rationales[^1].Step;
        var baseHistory = rationales.Concat(shortAnswers.Select(m => Shifted(m, offset))).ToList();
        return (data, baseDir, baseHistory);
    }

    /// <summary>
    /// The base's teaching rows, two per training item: the CoT prompt with the item's rationale, and the Direct prompt
    /// with its answer. A share <paramref name="shortCotShare"/> of the CoT rows (drawn by <paramref name="seed"/>) get
    /// only the rationale's last line, "Final answer: X", as instruction data rich in short answers teaches real models
    /// to answer a CoT prompt without reasoning. SFT reads only the chosen column; the rejected one holds a wrong answer
    /// so that the rows are well-formed pairs.
    /// </summary>
    internal static IReadOnlyList<PairRow> BaseTeachingRows(IEnumerable<SyntheticReasoningItem> train, double shortCotShare, int seed)
    {
        var draw = new Random(seed);
        return train.SelectMany(i =>
        {
            var wrong = SyntheticReasoningGenerator.WrongRationales(i)[0];
            var cot = draw.NextDouble() < shortCotShare ? i.Rationale[(i.Rationale.LastIndexOf('\n') + 1)..] : i.Rationale;
            return new[]
            {
                new PairRow(i.ImagePath, Instructions.Apply(i.Question, AnswerMode.ChainOfThought), cot, wrong),
                new PairRow(i.ImagePath, Instructions.Apply(i.Question, AnswerMode.Direct), i.Answer, AnswerExtractor.Extract(wrong).Answer ?? "?"),
            };
        }).ToList();
    }

    /// <summary>
    /// A stage of the base: reused when <paramref name="saveTo"/> holds one made with <paramref name="settings"/> (its
    /// curve then comes from its metrics log), refused when it holds one made with others, trained otherwise.
    /// </summary>
    private IReadOnlyList<TrainingMetrics> ReuseOrTrainBase(string startFrom, IReadOnlyList<PairRow> rows, string saveTo, string name,
        QuickstartBaseSettings settings, int epochs, double lr)
    {
        if (!File.Exists(Path.Combine(saveTo, "model.safetensors")))
            return TrainBase(startFrom, rows, saveTo, name, settings, epochs, lr);
        settings.EnsureMatches(saveTo);
        AnsiConsole.WriteLine($"   reusing the model in {saveTo} (made with the same settings)");
        return SavedHistory(name);
    }

    /// <summary>
    /// Trains a stage of the base and saves it with its settings. A stage stopped part-way (Ctrl+C writes a checkpoint)
    /// goes on from its checkpoint when it was started with the same settings; checkpoints of one started with other
    /// settings are removed, so that "latest" cannot pick them. Returns the whole run's curve, steps before a stop included.
    /// </summary>
    private IReadOnlyList<TrainingMetrics> TrainBase(string startFrom, IReadOnlyList<PairRow> rows, string saveTo, string name,
        QuickstartBaseSettings settings, int epochs, double lr)
    {
        var runDir = RunFolder(name);
        var checkpoints = Directory.Exists(runDir) ? Directory.GetDirectories(runDir, TrainingCheckpoint.Prefix + "*") : [];
        bool resume = checkpoints.Length > 0 && settings.DifferencesFrom(runDir) is { Count: 0 };
        if (resume)
            AnsiConsole.WriteLine($"   going on from the stopped {name} run's checkpoint in {runDir}");
        else
            foreach (var stale in checkpoints)
                Directory.Delete(stale, recursive: true);
        settings.Save(runDir);
        var options = BaseTrainerOptions(startFrom, epochs, lr);
        if (resume)
            options.ResumeFromCheckpoint = "latest";
        Train(options, rows, saveTo, name);
        settings.Save(saveTo);
        return SavedHistory(name);
    }

    /// <summary><paramref name="m"/> moved <paramref name="offset"/> steps on, so that a later stage's curve follows the earlier one's.</summary>
    private static TrainingMetrics Shifted(TrainingMetrics m, int offset)
    {
        var shifted = new TrainingMetrics(m.Step + offset, m.Epoch);
        foreach (var (key, value) in m.Values)
            shifted.Set(key, value);
        return shifted;
    }

    /// <summary>
    /// Step 4: correctness-based pairs from the base's samples (a pair job in the output folder resumes): CoT pairs, and
    /// with <see cref="QuickstartOptions.DirectPairs"/> Direct pairs of the same questions after them.
    /// </summary>
    private IReadOnlyList<PairRow> BuildPairs(SyntheticReasoningDataset data, string baseDir)
    {
        Step("4/6 correctness-based pairs from the base model's own samples");
        var questions = _ml.Data.LoadFromEnumerable(data.Train.Take(_o.PairQuestions).Select(i => i.ToRow()));
        var pairRows = new List<PairRow>();
        using (var generator = VisionLanguageModel.Load(baseDir, systemMessage: _o.SystemMessage))
        {
            pairRows.AddRange(SampledPairs(questions, generator, AnswerMode.ChainOfThought, "pairs.jsonl"));
            if (_o.DirectPairs)
                pairRows.AddRange(SampledPairs(questions, generator, AnswerMode.Direct, "pairs-direct.jsonl"));
        }
        if (pairRows.Count == 0)
            throw new InvalidOperationException("The base model produced no pairs (all its samples were right, wrong or unparsable); train it longer.");
        return pairRows;
    }

    /// <summary>The pairs of <paramref name="questions"/> sampled in <paramref name="mode"/>, as training rows: each with the prompt it was sampled with.</summary>
    private List<PairRow> SampledPairs(IDataView questions, VisionLanguageModel generator, AnswerMode mode, string fileName)
    {
        var pairs = _ml.Preference.Data.BuildCorrectnessPairs(questions, generator, new CorrectnessPipelineOptions
        {
            OutputPath = Path.Combine(_o.OutputFolder, fileName), SamplesPerQuestion = _o.SamplesPerQuestion, AnswerMode = mode, Instructions = Instructions,
            MaxPairsPerQuestion = _o.MaxPairsPerQuestion, Seed = _o.Seed, ShowProgress = true, CancellationToken = _cancel,
            Sampling = new GenerationOptions { Temperature = _o.SamplingTemperature, MaxNewTokens = _o.MaxNewTokens },
            // The rules the quickstart's table was measured with, where MMPR's defaults differ: distinct responses paired,
            // a chain quoting the whole right one skipped, no format-failure pairs, bare final lines accepted.
            DistinctResponsesFirst = true, Containment = PairContainmentFilter.ResponseText, FormatFailurePairs = false, RequireReasoning = false,
            LargeInputMaxPairsPerQuestion = null,
        });
        AnsiConsole.WriteLine($"   {(mode == AnswerMode.Direct ? "Direct" : "CoT")}: {pairs.Statistics}");
        return _ml.Data.CreateEnumerable<GeneratedPairRow>(pairs.Pairs, reuseRowObject: false)
            .Select(p => new PairRow(p.Image[0], p.Prompt, p.Chosen, p.Rejected)).ToList();
    }

    /// <summary>A preference pair of the quickstart, its prompt with the instruction of the mode it was sampled in.</summary>
    public sealed record PairRow(string Image, string Prompt, string Chosen, string Rejected);

    /// <summary>Trains from <paramref name="modelPath"/> and saves the result to <paramref name="saveTo"/>.</summary>
    public IReadOnlyList<TrainingMetrics> Train(string modelPath, IReadOnlyList<PairRow> rows, PreferenceLossOptions loss, int epochs, double lr,
        int batchSize, string saveTo, string name, Action<MpoTrainer.Options>? change = null)
    {
        var options = TrainerOptions(modelPath, loss, epochs, lr, batchSize);
        change?.Invoke(options);
        return Train(options, rows, saveTo, name);
    }

    /// <summary>Trains with <paramref name="options"/> (its run folder set from <paramref name="name"/>) and saves the result to <paramref name="saveTo"/>.</summary>
    private IReadOnlyList<TrainingMetrics> Train(MpoTrainer.Options options, IReadOnlyList<PairRow> rows, string saveTo, string name)
    {
        options.OutputDirectory = RunFolder(name);
        ConfigureTraining?.Invoke(options);
        var trainer = _ml.Preference.Trainers.Mpo(options);
        using var model = trainer.Fit(_ml.Data.LoadFromEnumerable(rows));
        model.Save(saveTo);
        var last = model.TrainingHistory[^1];
        AnsiConsole.WriteLine($"   {name}: {model.TrainingHistory.Count} steps, final loss {last["loss"]:F3}");
        return model.TrainingHistory;
    }

    /// <summary>The trainer settings every quickstart training run shares (the base-step benchmark profiles the same).</summary>
    internal MpoTrainer.Options TrainerOptions(string modelPath, PreferenceLossOptions loss, int epochs, double lr, int batchSize) => new()
    {
        ModelPath = modelPath, Loss = loss, NumberOfEpochs = epochs, LearningRate = lr, BatchSize = batchSize, WarmupRatio = 0.05,
        FreezeVision = false, MaxLength = 256, Seed = _o.Seed, SystemMessage = _o.SystemMessage, Device = "cpu",
        ShowProgress = true, CancellationToken = _cancel,
        // The settings the quickstart's table was measured with (the defaults now follow InternVL2's MPO script).
        WeightDecay = 0, DType = "float32", GradientCheckpointing = false, VisionDropPathRate = null,
    };

    /// <summary>The settings of both stages of the base (SFT on the teaching rows, <see cref="QuickstartOptions.BaseBatchSize"/> rows a step).</summary>
    internal MpoTrainer.Options BaseTrainerOptions(string modelPath, int epochs, double lr) =>
        TrainerOptions(modelPath, PreferenceLossOptions.Single(PreferenceLossType.Sft), epochs, lr, _o.BaseBatchSize);

    private string RunFolder(string name) => Path.Combine(_o.OutputFolder, "runs", name);

    /// <summary>The curves of an earlier run of <paramref name="name"/> (for the PNG when its model is reused); none if it left no readable log.</summary>
    private IReadOnlyList<TrainingMetrics> SavedHistory(string name)
    {
        var path = Path.Combine(RunFolder(name), "metrics.jsonl");
        if (!File.Exists(path))
            return [];
        try
        {
            return MetricsLog.Read(path);
        }
        catch (InvalidDataException e)
        {
            AnsiConsole.MarkupLineInterpolated($"   [yellow]the {name} curve is left out of the PNG:[/] {e.Message}");
            return [];
        }
    }

    /// <summary>Direct and CoT accuracy of the model saved in <paramref name="folder"/>.</summary>
    public ModelScores Evaluate(string name, string folder, IDataView test)
    {
        _cancel.ThrowIfCancellationRequested();
        using var model = MpoTransformer.Load(_ml, folder);
        model.Generation = new GenerationOptions { MaxNewTokens = _o.MaxNewTokens };
        model.BatchSize = 16;
        AccuracyMetrics Score(AnswerMode mode)
        {
            model.AnswerMode = mode;
            return _ml.Preference.Evaluation.EvaluateAccuracy(model.Transform(test), PreferenceColumnNames.Answer, PreferenceColumnNames.AnswerGt, PreferenceColumnNames.Family);
        }
        var scores = new ModelScores(name, Score(AnswerMode.Direct), Score(AnswerMode.ChainOfThought));
        AnsiConsole.WriteLine($"   {name}: Direct {QuickstartReport.Percent(scores.Direct.Accuracy):0.0} %, CoT {QuickstartReport.Percent(scores.ChainOfThought.Accuracy):0.0} %");
        return scores;
    }

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private void Step(string title) => AnsiConsole.MarkupLineInterpolated($"[bold blue]{title}[/] [grey](at {_clock.Elapsed:m\\:ss})[/]");
}
