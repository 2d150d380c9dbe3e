using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>What a run does after a failure: finished runs, unfinished checkpoint writes, divergence, truncation.</summary>
public class FailureRecoveryTests
{
    [Fact]
    public void ResumingAFinishedRunTrainsNothingAndPlotsTheWholeRun()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var data = ml.Data.LoadFromEnumerable(toy.Rows(12, seed: 5));
        var o = MpoTrainerLearningTests.Fast(toy);
        o.MaxSteps = 2;
        o.SaveSteps = 1;
        o.OutputDirectory = Path.Combine(toy.Root, "out");
        using (ml.Preference.Trainers.Mpo(o).Fit(data)) { }

        // A kill during a checkpoint write leaves its temporary folder: the next run removes it and says so.
        var stale = Path.Combine(o.OutputDirectory, "checkpoint-3" + TrainingCheckpoint.TemporaryMarker + "0badf00d");
        Directory.CreateDirectory(Path.Combine(stale, "model"));
        File.WriteAllText(Path.Combine(stale, "model", "model.safetensors"), "half a file");

        // Resuming the last checkpoint of a finished run: nothing to train, no error, the last checkpoint untouched.
        var written = Directory.GetLastWriteTimeUtc(Path.Combine(o.OutputDirectory, "checkpoint-2"));
        o.ResumeFromCheckpoint = "latest";
        messages.Clear();
        using (var again = ml.Preference.Trainers.Mpo(o).Fit(data))
            Assert.Empty(again.TrainingHistory);
        Assert.False(Directory.Exists(stale));
        Assert.Contains(messages, m => m.Contains("Removed " + stale, StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("training had already finished", StringComparison.Ordinal));
        Assert.Equal(written, Directory.GetLastWriteTimeUtc(Path.Combine(o.OutputDirectory, "checkpoint-2")));
        Assert.Equal(2, MetricsLog.Read(Path.Combine(o.OutputDirectory, "metrics.jsonl")).Count);

        // Resumed halfway with more steps, the curves cover steps 1 to 4, not only the 3 and 4 this process ran.
        o.MaxSteps = 4;
        o.ResumeFromCheckpoint = Path.Combine(o.OutputDirectory, "checkpoint-1");
        messages.Clear();
        using (var resumed = ml.Preference.Trainers.Mpo(o).Fit(data))
            Assert.Equal([2, 3, 4], resumed.TrainingHistory.Select(h => h.Step));
        Assert.Contains(messages, m => m.Contains("training-curves.png (steps 1 to 4)", StringComparison.Ordinal));
    }

    [Fact]
    public void DivergenceNamesTheLastCheckpointBeforeTheLossLeftItsRange()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(24, 3));
        var o = MpoTrainerLearningTests.Fast(toy);
        o.MaxSteps = 3;
        o.SaveSteps = 1;
        o.OutputDirectory = Path.Combine(toy.Root, "out");
        using (ml.Preference.Trainers.Mpo(o).Fit(data)) { }

        // Resumed with a learning rate that blows the weights up in one update: step 4's loss is still computed on
        // checkpoint-3's weights (normal), so checkpoint-4 is written, holding diverged weights; step 5 is not finite.
        o.ResumeFromCheckpoint = Path.Combine(o.OutputDirectory, "checkpoint-3");
        o.MaxSteps = 8;
        o.MaxGradNorm = 0;
        o.LearningRate = 1e30;
        var e = Assert.Throws<NonFiniteLossException>(() => ml.Preference.Trainers.Mpo(o).Fit(data));
        Assert.Equal(5, e.Step);
        Assert.Equal(Path.Combine(o.OutputDirectory, "checkpoint-3"), e.LastCheckpoint);
        Assert.Equal(Path.Combine(o.OutputDirectory, "checkpoint-4"), e.NewestCheckpoint);
        Assert.Contains($"Do not resume from {e.NewestCheckpoint}", e.Message);
        Assert.Contains($"normal range is {e.LastCheckpoint}", e.Message);
    }

    [Fact]
    public void APairWhoseResponsesAreIdenticalAfterTruncationIsABadRow()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var rows = toy.Rows(8, seed: 4);
        string longPrefix = "The square is " + string.Join(" ", Enumerable.Repeat("very", 400));
        rows[5].Chosen = longPrefix + " red.";
        rows[5].Rejected = longPrefix + " blue.";   // differs only after MaxLength 256 has cut both
        // Rows are checked as the run reaches them (streaming input): one epoch meets row 5 in its turn.
        var o = MpoTrainerLearningTests.Fast(toy);
        var e = Assert.Throws<BadRowException>(() => ml.Preference.Trainers.Mpo(o).Fit(ml.Data.LoadFromEnumerable(rows)));
        Assert.Equal(BadRowReason.IdenticalAfterTruncation, e.Reason);
        Assert.Equal(5, e.RowIndex);
        Assert.Contains("Data row 6", e.Message);
        Assert.Contains("MaxLength 256", e.Message);

        o.BadRows = BadRowPolicy.Skip;
        using var model = ml.Preference.Trainers.Mpo(o).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.Equal(1, model.SkippedRows[nameof(BadRowReason.IdenticalAfterTruncation)]);
    }
}
