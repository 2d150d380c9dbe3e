using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>Resumption, cancellation, bad rows, non-finite losses and schema errors.</summary>
public class MpoTrainerRobustnessTests
{
    [Theory]
    [InlineData(false, "float32")]
    [InlineData(true, "float32")]
    [InlineData(false, "bfloat16")] // float32 master weights and AdamW state must come back exactly
    public void ResumedRunEqualsUninterruptedRun(bool lora, string dtype)
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(24, seed: 7));
        MpoTrainer.Options Options(string output)
        {
            var o = MpoTrainerLearningTests.Fast(toy);
            o.MaxSteps = 5;
            o.SaveSteps = 2;
            o.OutputDirectory = Path.Combine(toy.Root, output);
            o.DType = dtype;
            if (lora)
                o.Lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0.1 }; // dropout: the RNG state must resume too
            return o;
        }
        double[] full;
        using (var m = ml.Preference.Trainers.Mpo(Options("full")).Fit(data))
            full = m.TrainingHistory.Select(h => h["loss"]).ToArray();
        Assert.True(File.Exists(Path.Combine(toy.Root, "full", "checkpoint-2", TrainingCheckpoint.StateFile)));
        Assert.True(Directory.Exists(Path.Combine(toy.Root, "full", "checkpoint-2", lora ? "adapter" : "model")));
        Assert.Equal(dtype == "bfloat16", File.Exists(Path.Combine(toy.Root, "full", "checkpoint-2", MasterWeightAdamW.FileName)));

        var resumed = Options("resumed");
        resumed.ResumeFromCheckpoint = Path.Combine(toy.Root, "full", "checkpoint-2");
        using var r = ml.Preference.Trainers.Mpo(resumed).Fit(data);
        var tail = r.TrainingHistory.Select(h => h["loss"]).ToArray();
        Assert.Equal(3, tail.Length);
        for (int i = 0; i < 3; i++)
            Assert.Equal(full[2 + i], tail[i], 1e-6);
        Assert.Equal(3, r.TrainingHistory[0].Step);
        if (dtype == "bfloat16")
        {
            // Bit-identical master weights and moments at the end, not just close losses.
            using var straight = SafetensorsFile.Open(Path.Combine(toy.Root, "full", "checkpoint-5", MasterWeightAdamW.FileName));
            using var again = SafetensorsFile.Open(Path.Combine(toy.Root, "resumed", "checkpoint-5", MasterWeightAdamW.FileName));
            Assert.Equal(straight.Names, again.Names);
            Assert.Equal(straight.Metadata["steps"], again.Metadata["steps"]);
            foreach (var name in straight.Names)
                Assert.True(straight.Read(name).Equals(again.Read(name)), name);
        }
    }

    [Fact]
    public void RowsCutToMaxLengthAreReportedOnTheChannel()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var rows = toy.Rows(8, seed: 4);
        rows[5].Chosen = "The square is " + string.Join(" ", Enumerable.Repeat("very", 400)) + " red.";
        var o = MpoTrainerLearningTests.Fast(toy);
        o.MaxSteps = 2; // one epoch: rows are checked as the run reaches them, and the count is reported at the end
        using var model = ml.Preference.Trainers.Mpo(o).Fit(ml.Data.LoadFromEnumerable(rows));
        var warning = Assert.Single(messages, m => m.Contains("cut to MaxLength", StringComparison.Ordinal));
        Assert.Contains("1 of 8 rows", warning);
        Assert.Contains("data row 6", warning);

        messages.Clear();
        using var clean = ml.Preference.Trainers.Mpo(o).Fit(ml.Data.LoadFromEnumerable(toy.Rows(8, seed: 4)));
        Assert.DoesNotContain(messages, m => m.Contains("cut to MaxLength", StringComparison.Ordinal));
    }

    [Fact]
    public void CancellationStopsAtAStepBoundaryWithACheckpointThatResumes()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(24, seed: 7));
        using var cts = new CancellationTokenSource();
        var o = MpoTrainerLearningTests.Fast(toy);
        o.MaxSteps = 6;
        o.OutputDirectory = Path.Combine(toy.Root, "out");
        o.CancellationToken = cts.Token;
        o.Progress = new SynchronousProgress(m => { if (m.Step == 2) cts.Cancel(); });
        var e = Assert.Throws<TrainingCanceledException>(() => ml.Preference.Trainers.Mpo(o).Fit(data));
        Assert.Equal(2, e.Step);
        Assert.Equal(Path.Combine(o.OutputDirectory, "checkpoint-2"), e.Checkpoint);
        Assert.Contains("checkpoint-2", e.Message);

        var metricsPath = Path.Combine(o.OutputDirectory, "metrics.jsonl");
        Assert.Equal([1, 2], MetricsLog.Read(metricsPath).Select(m => m.Step));
        // What a kill after the checkpoint leaves: a step the resumed run does again, and a torn line.
        File.AppendAllText(metricsPath, "{\"step\":3,\"epoch\":0.5,\"loss\":9}\n{\"step\":4,\"ep");

        o.CancellationToken = default;
        o.Progress = null;
        o.ResumeFromCheckpoint = "latest";
        using (var resumed = ml.Preference.Trainers.Mpo(o).Fit(data))
        {
            Assert.Equal(Enumerable.Range(3, 4), resumed.TrainingHistory.Select(h => h.Step));
            var logged = MetricsLog.Read(metricsPath);
            Assert.Equal(Enumerable.Range(1, 6), logged.Select(m => m.Step));
            Assert.Equal(resumed.TrainingHistory[0]["loss"], logged[2]["loss"]);
        }

        // A fresh run in the same folder starts the file anew instead of following the old run's lines.
        o.ResumeFromCheckpoint = null;
        o.MaxSteps = 2;
        using (ml.Preference.Trainers.Mpo(o).Fit(data))
            Assert.Equal([1, 2], MetricsLog.Read(metricsPath).Select(m => m.Step));
    }

    [Fact]
    public void MetricsLinesReadBackAsWrittenAndABadLineNamesItsNumber()
    {
        var record = new TrainingMetrics(7, 0.25);
        record.Set("loss", 0.125);
        record.Set("rewards/margins", -3.5e-7);
        record.Set("grad_norm", double.NaN);
        var back = TrainingMetrics.FromJsonLine(record.ToJsonLine());
        Assert.Equal(7, back.Step);
        Assert.Equal(0.25, back.Epoch);
        Assert.Equal(record.Values, back.Values);
        Assert.True(double.IsNaN(back["grad_norm"]));

        var folder = Directory.CreateTempSubdirectory("mlpref-metrics-");
        try
        {
            var path = Path.Combine(folder.FullName, "metrics.jsonl");
            File.WriteAllLines(path, [record.ToJsonLine(), "", "{\"epoch\":1}"]);
            var e = Assert.Throws<InvalidDataException>(() => MetricsLog.Read(path));
            Assert.Contains("line 3", e.Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void BadRowsFailWithTheRowOrAreSkippedAndCounted()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var rows = toy.Rows(12, seed: 8);
        var corrupt = Path.Combine(toy.Root, "corrupt.png");
        File.WriteAllBytes(corrupt, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5]);
        rows[2].Image = Path.Combine(toy.Root, "missing.png");
        rows[4].Image = corrupt;
        rows[6].Chosen = "  ";
        rows[8].Rejected = rows[8].Chosen;
        rows[10].Prompt = "<image>\n<image>\nTwo placeholders, one image?";
        rows[11].Chosen = "The square is <IMG_CONTEXT> red.";
        var data = ml.Data.LoadFromEnumerable(rows);

        // Rows are checked as the run reaches them, in the shuffled order: the error is the first bad row met, and
        // under Skip one epoch meets them all.
        var o = MpoTrainerLearningTests.Fast(toy);
        var reasons = new Dictionary<long, BadRowReason>
        {
            [2] = BadRowReason.MissingImage, [4] = BadRowReason.CorruptImage, [6] = BadRowReason.EmptyText,
            [8] = BadRowReason.ChosenEqualsRejected, [10] = BadRowReason.ImagePlaceholderMismatch, [11] = BadRowReason.ImagePlaceholderMismatch,
        };
        var e = Assert.Throws<BadRowException>(() => ml.Preference.Trainers.Mpo(o).Fit(data));
        Assert.Equal(reasons[e.RowIndex], e.Reason);
        Assert.Contains($"Data row {e.RowIndex + 1}", e.Message);
        if (e.RowIndex == 2)
            Assert.Contains("missing.png", e.Message);

        o.BadRows = BadRowPolicy.Skip;
        using var model = ml.Preference.Trainers.Mpo(o).Fit(data);
        Assert.Equal(1, model.SkippedRows["MissingImage"]);
        Assert.Equal(1, model.SkippedRows["CorruptImage"]);
        Assert.Equal(1, model.SkippedRows["EmptyText"]);
        Assert.Equal(1, model.SkippedRows["ChosenEqualsRejected"]);
        Assert.Equal(2, model.SkippedRows["ImagePlaceholderMismatch"]); // a second placeholder; image tokens spelled in the text

        // A row whose image tokens alone exceed MaxLength.
        var tooLong = MpoTrainerLearningTests.Fast(toy);
        tooLong.MaxSteps = 1;
        tooLong.MaxLength = 16;
        var e2 = Assert.Throws<BadRowException>(() => ml.Preference.Trainers.Mpo(tooLong).Fit(ml.Data.LoadFromEnumerable(toy.Rows(2, 9))));
        Assert.Equal(BadRowReason.TooLong, e2.Reason);
        Assert.Contains(e2.RowIndex, new long[] { 0, 1 }); // both are too long; the first met in the shuffled batch
    }

    [Fact]
    public void NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var o = MpoTrainerLearningTests.Fast(toy);
        o.MaxSteps = 6;
        o.SaveSteps = 1;
        o.MaxGradNorm = 0;
        o.LearningRate = 1e30; // the first update blows every trained weight up; the next forward is not finite
        o.OutputDirectory = Path.Combine(toy.Root, "out");
        var e = Assert.Throws<NonFiniteLossException>(() => ml.Preference.Trainers.Mpo(o).Fit(ml.Data.LoadFromEnumerable(toy.Rows(24, 3))));
        Assert.Equal(2, e.Step);
        // checkpoint-1 was written after the update that blew the weights up (its step's loss was computed before
        // it): it is named as the one not to resume from, and no checkpoint is trusted.
        Assert.Null(e.LastCheckpoint);
        Assert.Equal(Path.Combine(o.OutputDirectory, "checkpoint-1"), e.NewestCheckpoint);
        Assert.Contains("not finite", e.Message);
        Assert.Contains("No checkpoint was written before the loss and gradient norm left their normal range", e.Message);
        Assert.False(Directory.Exists(Path.Combine(o.OutputDirectory, "checkpoint-2")));
    }

    [Fact]
    public void SchemaAndOptionErrorsNameTheColumnOrOption()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(4, 1));
        var o = MpoTrainerLearningTests.Fast(toy);
        o.ChosenColumnName = "Preferred";
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Preference.Trainers.Mpo(o).Fit(data));
        Assert.Contains("'Preferred'", e.Message);

        var numeric = ml.Data.LoadFromEnumerable(new[] { new { Image = "x.png", Prompt = 1f, Chosen = "a", Rejected = "b" } });
        e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Preference.Trainers.Mpo(MpoTrainerLearningTests.Fast(toy)).Fit(numeric));
        Assert.Contains("'Prompt'", e.Message);
        Assert.Contains("not text", e.Message);

        var bad = MpoTrainerLearningTests.Fast(toy);
        bad.BatchSize = 0;
        e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Preference.Trainers.Mpo(bad));
        Assert.Contains("BatchSize", e.Message);
        var trdpoWithLora = MpoTrainerLearningTests.Fast(toy);
        trdpoWithLora.ReferenceSyncSteps = 2;
        trdpoWithLora.Lora = new LoraOptions();
        e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Preference.Trainers.Mpo(trdpoWithLora));
        Assert.Contains("ReferenceSyncSteps", e.Message);
    }

    private sealed class SynchronousProgress(Action<TrainingMetrics> report) : IProgress<TrainingMetrics>
    {
        public void Report(TrainingMetrics value) => report(value);
    }
}
