using Microsoft.ML.Preference.Cli.Quickstart;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Tests.Cli;

/// <summary>The quickstart's base stage on a model small enough to train in seconds: reuse, refusal and cancellation.</summary>
public sealed class QuickstartBaseTests : IDisposable
{
    // xUnit makes one instance per test, so each test has its own output folder.
    private readonly string _out = Directory.CreateTempSubdirectory("mlpref-quickstart-").FullName;

    public void Dispose() => Directory.Delete(_out, recursive: true);

    // 8 items give 16 rows (CoT and Direct), so one epoch is 2 steps of batch 8.
    private QuickstartOptions Tiny(int baseEpochs = 1) => new()
    {
        OutputFolder = _out, TrainItems = 8, TestItems = 4, BaseEpochs = baseEpochs, BaseBatchSize = 8, Hidden = 16, Layers = 1, VisionHidden = 16, VisionLayers = 1,
        TokenizerMerges = 50, ShortCotShare = 0,
    };

    [Fact]
    public void ABaseIsReusedOnlyWhenItWasMadeWithTheSameSettings()
    {
        var first = new QuickstartRunner(Tiny()).PrepareBase();
        Assert.Equal([1, 2], first.BaseHistory.Select(h => h.Step));
        var weightsPath = Path.Combine(first.BaseDir, "model.safetensors");
        var weights = File.ReadAllBytes(weightsPath);

        // Same settings: the base is not trained again, and its curve comes back from the metrics log for the PNG.
        var again = new QuickstartRunner(Tiny()).PrepareBase();
        Assert.Equal(first.BaseHistory.Select(h => h["loss"]), again.BaseHistory.Select(h => h["loss"]));
        Assert.Equal(weights, File.ReadAllBytes(weightsPath));

        // Other settings: refused, naming what differs, and the base is left as it was.
        var e = Assert.Throws<InvalidOperationException>(() => new QuickstartRunner(Tiny(baseEpochs: 2)).PrepareBase());
        Assert.Contains("base_epochs: 1 → 2", e.Message);
        Assert.Contains("--out", e.Message);
        Assert.Equal(weights, File.ReadAllBytes(weightsPath));
        // The batch is written only when it is not 8 (bases made before it was an option were made with 8).
        Assert.DoesNotContain("batch", File.ReadAllText(Path.Combine(first.BaseDir, QuickstartBaseSettings.FileName)));
        e = Assert.Throws<InvalidOperationException>(() => new QuickstartRunner(Tiny() with { BaseBatchSize = 4 }).PrepareBase());
        Assert.Contains("base_batch_size: (missing) → 4", e.Message);

        // A base without the settings file (an earlier version's) is not trusted either.
        File.Delete(Path.Combine(first.BaseDir, QuickstartBaseSettings.FileName));
        e = Assert.Throws<InvalidOperationException>(() => new QuickstartRunner(Tiny()).PrepareBase());
        Assert.Contains(QuickstartBaseSettings.FileName, e.Message);
    }

    [Fact]
    public void TheShortAnswerStageTrainsFromTheRationaleBaseAndTheCurveRunsOnAcrossBothStages()
    {
        var options = Tiny(baseEpochs: 2) with { ShortCotShare = 0.5, ShortAnswerEpochs = 1 };
        var trained = new QuickstartRunner(options).PrepareBase();
        Assert.Equal([1, 2, 3, 4, 5, 6], trained.BaseHistory.Select(h => h.Step));
        var rationalesDir = Path.Combine(_out, "base-rationales");
        Assert.True(File.Exists(Path.Combine(rationalesDir, "model.safetensors")));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(rationalesDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(trained.BaseDir, "model.safetensors")));

        // The first stage is the base a run without the stage makes: its settings file is the one that run writes.
        var plain = QuickstartBaseSettings.From(Tiny(baseEpochs: 2));
        Assert.Equal(Array.Empty<string>(), plain.DifferencesFrom(rationalesDir));
        Assert.DoesNotContain("short", File.ReadAllText(Path.Combine(rationalesDir, QuickstartBaseSettings.FileName)));

        // Another share: the finished base is refused by name, and both stages are left as they were.
        var e = Assert.Throws<InvalidOperationException>(() => new QuickstartRunner(options with { ShortCotShare = 0.8 }).PrepareBase());
        Assert.Contains("short_cot_share: 0.5 → 0.8", e.Message);

        // Removing only the finished base reuses the first stage and trains the last one again.
        Directory.Delete(trained.BaseDir, recursive: true);
        var stepsTrained = new List<int>();
        var again = new QuickstartRunner(options with { ShortCotShare = 0.8 }) { ConfigureTraining = o => o.Progress = new StepWatcher(m => stepsTrained.Add(m.Step)) }
            .PrepareBase();
        Assert.Equal([1, 2], stepsTrained);
        Assert.Equal([1, 2, 3, 4, 5, 6], again.BaseHistory.Select(h => h.Step));
    }

    [Fact]
    public void ACancelledBaseIsNotSavedAndTheNextRunTrainsItFromTheStart()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => new QuickstartRunner(Tiny(), cancel.Token).PrepareBase());
        var baseDir = Path.Combine(_out, "base");
        Assert.False(File.Exists(Path.Combine(baseDir, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(baseDir, QuickstartBaseSettings.FileName)));

        var trained = new QuickstartRunner(Tiny()).PrepareBase();
        Assert.Equal([1, 2], trained.BaseHistory.Select(h => h.Step));
        Assert.Equal([1, 2], MetricsLog.Read(Path.Combine(_out, "runs", "base", "metrics.jsonl")).Select(h => h.Step));
    }

    [Fact]
    public void ABaseStoppedPartWayGoesOnFromItsCheckpointOnlyWithTheSameSettings()
    {
        // Stop the 6-step base (3 epochs) after step 3, as Ctrl+C does.
        using (var cancel = new CancellationTokenSource())
        {
            var stopping = new QuickstartRunner(Tiny(baseEpochs: 3), cancel.Token)
            {
                ConfigureTraining = o => o.Progress = new StepWatcher(m => { if (m.Step == 3) cancel.Cancel(); }),
            };
            Assert.Equal(3, Assert.Throws<TrainingCanceledException>(() => stopping.PrepareBase()).Step);
        }
        var runDir = Path.Combine(_out, "runs", "base");
        Assert.True(Directory.Exists(Path.Combine(runDir, "checkpoint-3")));

        // Same settings: the run resumes at step 4, and the base's curve is the whole run.
        var resumedFrom = new List<string?>();
        var resumed = new QuickstartRunner(Tiny(baseEpochs: 3)) { ConfigureTraining = o => resumedFrom.Add(o.ResumeFromCheckpoint) }
            .PrepareBase();
        Assert.Equal(["latest"], resumedFrom);
        Assert.Equal([1, 2, 3, 4, 5, 6], resumed.BaseHistory.Select(h => h.Step));

        // Stopped again, then rerun with other settings: the old checkpoint is not used, the base starts over.
        Directory.Delete(resumed.BaseDir, recursive: true);
        Directory.CreateDirectory(Path.Combine(runDir, "checkpoint-5"));
        var restartedFrom = new List<string?>();
        var restarted = new QuickstartRunner(Tiny(baseEpochs: 2)) { ConfigureTraining = o => restartedFrom.Add(o.ResumeFromCheckpoint) }
            .PrepareBase();
        Assert.Equal([null], restartedFrom);
        Assert.Equal([1, 2, 3, 4], restarted.BaseHistory.Select(h => h.Step));
        Assert.DoesNotContain(Path.Combine(runDir, "checkpoint-5"), Directory.GetDirectories(runDir, "checkpoint-*"));
    }

    private sealed class StepWatcher(Action<TrainingMetrics> report) : IProgress<TrainingMetrics>
    {
        public void Report(TrainingMetrics value) => report(value);
    }
}

