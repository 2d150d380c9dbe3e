using System.Diagnostics;
using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Data.Synthetic;
using Microsoft.ML.Preference.Evaluation;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Quickstart;

/// <summary>One model's accuracy in both answer modes.</summary>
internal sealed record ModelScores(string Name, AccuracyMetrics Direct, AccuracyMetrics ChainOfThought);

/// <summary>
/// The paper's claim in miniature, on the built-in synthetic visual-reasoning set: (1) a tiny InternVL-style model
/// learns the tasks by SFT on rationales and direct answers (the base); (2) correctness-based pairs are built from the
/// base's own samples; (3) from the same base, SFT on the chosen responses and MPO on the pairs; (4) Direct and CoT
/// accuracy of base, SFT and MPO on the test split, as a table and a PNG. A fourth row, MPO-step, is MPO with each
/// rejected response scored only up to the end of its first wrong step (see the README's Quickstart for why).
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
            return (run.Name, Dir: dir, History: Train(baseDir, pairRows, run.Loss, _o.PreferenceEpochs, _o.PreferenceLearningRate, dir, run.Name.ToLowerInvariant(), run.Change));
        }).ToList();

        Step("6/6 Direct vs CoT accuracy on the test split");
        var test = TestSet(data);
        var scores = new List<ModelScores> { Evaluate("base", baseDir, test) };
        scores.AddRange(trained.Select(t => Evaluate(t.Name, t.Dir, test)));
        QuickstartReport.Print(scores);
        var png = Path.Combine(_o.OutputFolder, "quickstart.png");
        QuickstartReport.WritePng(png, scores, [("base (SFT on rationales)", baseHistory), .. trained.Select(t => (t.Name, t.History))]);
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

    /// <summary>
    /// Steps 1-3: data, tiny model and base model. A base already in the output folder is reused when it was made with
    /// the same settings (its curve then comes from its metrics log); one made with other settings is refused.
    /// </summary>
    public (SyntheticReasoningDataset Data, string BaseDir, IReadOnlyList<TrainingMetrics> BaseHistory) PrepareBase()
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
            ReasoningPrompts.Apply(i.Question, AnswerMode.ChainOfThought), ReasoningPrompts.Apply(i.Question, AnswerMode.Direct), i.Rationale, i.Answer,
        });
        TinyInternVLFactory.Create(modelDir, corpus, new TinyInternVLOptions
        {
            Hidden = _o.Hidden, Layers = _o.Layers, Heads = 4, Merges = _o.TokenizerMerges, Seed = _o.Seed,
            VisionHidden = _o.VisionHidden, VisionLayers = _o.VisionLayers,
        });

        Step("3/6 the base model: SFT on rationales (CoT) and answers (Direct)");
        var sftRows = data.Train.SelectMany(i => new[]
        {
            new PairRow(i.ImagePath, ReasoningPrompts.Apply(i.Question, AnswerMode.ChainOfThought), i.Rationale, SyntheticReasoningGenerator.WrongRationales(i)[0]),
            new PairRow(i.ImagePath, ReasoningPrompts.Apply(i.Question, AnswerMode.Direct), i.Answer, AnswerExtractor.Extract(SyntheticReasoningGenerator.WrongRationales(i)[0]).Answer ?? "?"),
        }).ToList();
        var baseDir = Path.Combine(_o.OutputFolder, "base");
        var baseSettings = QuickstartBaseSettings.From(_o);
        IReadOnlyList<TrainingMetrics> baseHistory;
        if (File.Exists(Path.Combine(baseDir, "model.safetensors")))
        {
            baseSettings.EnsureMatches(baseDir);
            baseHistory = SavedHistory("base");
            AnsiConsole.WriteLine($"   reusing the base model in {baseDir} (made with the same settings)");
        }
        else
        {
            baseHistory = TrainBase(modelDir, sftRows, baseDir, baseSettings);
        }
        return (data, baseDir, baseHistory);
    }

    /// <summary>
    /// Trains the base and saves it with its settings. A base stopped part-way (Ctrl+C writes a checkpoint) goes on
    /// from its checkpoint when it was started with the same settings; checkpoints of a base started with other
    /// settings are removed, so that "latest" cannot pick them. Returns the whole run's curve, steps before a stop included.
    /// </summary>
    private IReadOnlyList<TrainingMetrics> TrainBase(string modelDir, IReadOnlyList<PairRow> sftRows, string baseDir, QuickstartBaseSettings settings)
    {
        var runDir = RunFolder("base");
        var checkpoints = Directory.Exists(runDir) ? Directory.GetDirectories(runDir, TrainingCheckpoint.Prefix + "*") : [];
        bool resume = checkpoints.Length > 0 && settings.DifferencesFrom(runDir) is { Count: 0 };
        if (resume)
            AnsiConsole.WriteLine($"   going on from the stopped base run's checkpoint in {runDir}");
        else
            foreach (var stale in checkpoints)
                Directory.Delete(stale, recursive: true);
        settings.Save(runDir);
        Train(modelDir, sftRows, PreferenceLossOptions.Single(PreferenceLossType.Sft), _o.BaseEpochs, _o.BaseLearningRate, baseDir, "base",
            resume ? o => o.ResumeFromCheckpoint = "latest" : null);
        settings.Save(baseDir);
        return SavedHistory("base");
    }

    /// <summary>Step 4: correctness-based pairs from the base's samples (a pair job in the output folder resumes).</summary>
    private IReadOnlyList<PairRow> BuildPairs(SyntheticReasoningDataset data, string baseDir)
    {
        Step("4/6 correctness-based pairs from the base model's own samples");
        var questions = _ml.Data.LoadFromEnumerable(data.Train.Take(_o.PairQuestions).Select(i => i.ToRow()));
        PairConstructionResult pairs;
        using (var generator = VisionLanguageModel.Load(baseDir, systemMessage: _o.SystemMessage))
        {
            pairs = _ml.Preference.Data.BuildCorrectnessPairs(questions, generator, new CorrectnessPipelineOptions
            {
                OutputPath = Path.Combine(_o.OutputFolder, "pairs.jsonl"), SamplesPerQuestion = _o.SamplesPerQuestion,
                MaxPairsPerQuestion = _o.MaxPairsPerQuestion, Seed = _o.Seed, ShowProgress = true, CancellationToken = _cancel,
                Sampling = new GenerationOptions { Temperature = _o.SamplingTemperature, MaxNewTokens = _o.MaxNewTokens },
            });
        }
        AnsiConsole.WriteLine($"   {pairs.Statistics}");
        var pairRows = _ml.Data.CreateEnumerable<GeneratedPairRow>(pairs.Pairs, reuseRowObject: false)
            .Select(p => new PairRow(p.Image[0], ReasoningPrompts.Apply(p.Prompt, AnswerMode.ChainOfThought), p.Chosen, p.Rejected)).ToList();
        if (pairRows.Count == 0)
            throw new InvalidOperationException("The base model produced no pairs (all its samples were right, wrong or unparsable); train it longer.");
        return pairRows;
    }

    /// <summary>A CoT-prompted preference pair of the quickstart.</summary>
    public sealed record PairRow(string Image, string Prompt, string Chosen, string Rejected);

    /// <summary>Trains from <paramref name="modelPath"/> and saves the result to <paramref name="saveTo"/>.</summary>
    public IReadOnlyList<TrainingMetrics> Train(string modelPath, IReadOnlyList<PairRow> rows, PreferenceLossOptions loss, int epochs, double lr,
        string saveTo, string name, Action<MpoTrainer.Options>? change = null)
    {
        var options = new MpoTrainer.Options
        {
            ModelPath = modelPath, Loss = loss, NumberOfEpochs = epochs, LearningRate = lr, BatchSize = 8, WarmupRatio = 0.05,
            FreezeVision = false, MaxLength = 256, Seed = _o.Seed, SystemMessage = _o.SystemMessage, Device = "cpu",
            OutputDirectory = RunFolder(name), ShowProgress = true, CancellationToken = _cancel,
        };
        change?.Invoke(options);
        ConfigureTraining?.Invoke(options);
        var trainer = _ml.Preference.Trainers.Mpo(options);
        using var model = trainer.Fit(_ml.Data.LoadFromEnumerable(rows));
        model.Save(saveTo);
        var last = model.TrainingHistory[^1];
        AnsiConsole.WriteLine($"   {name}: {model.TrainingHistory.Count} steps, final loss {last["loss"]:F3}");
        return model.TrainingHistory;
    }

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
            return _ml.Preference.Evaluation.EvaluateAccuracy(model.Transform(test), "Answer", "AnswerGt", "Family");
        }
        var scores = new ModelScores(name, Score(AnswerMode.Direct), Score(AnswerMode.ChainOfThought));
        AnsiConsole.WriteLine($"   {name}: Direct {QuickstartReport.Percent(scores.Direct.Accuracy):0.0} %, CoT {QuickstartReport.Percent(scores.ChainOfThought.Accuracy):0.0} %");
        return scores;
    }

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private void Step(string title) => AnsiConsole.MarkupLineInterpolated($"[bold blue]{title}[/] [grey](at {_clock.Elapsed:m\\:ss})[/]");
}
