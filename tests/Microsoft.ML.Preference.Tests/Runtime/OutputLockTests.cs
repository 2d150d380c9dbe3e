using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Tests.Trainers;

namespace Microsoft.ML.Preference.Tests.Runtime;

/// <summary>One run per output: a live holder refuses the second run by name; a dead one's lock is taken over.</summary>
public class OutputLockTests
{
    /// <summary>Writes a lock file as the process <paramref name="process"/> would have.</summary>
    internal static void WriteLockOf(string lockFile, Process process, string host) =>
        WriteLockOf(lockFile, process.Id, process.StartTime.ToUniversalTime(), host);

    internal static void WriteLockOf(string lockFile, int processId, DateTime processStart, string host)
    {
        var holder = new OutputLockHolder(processId, host, processStart, DateTime.UtcNow, "mpo train --out elsewhere");
        File.WriteAllText(lockFile, JsonSerializer.Serialize(holder));
    }

    internal static Process Sleeper() => Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;

    [Fact]
    public void ALiveHolderRefusesASecondRunNamingIt()
    {
        var folder = Path.Combine(Path.GetTempPath(), "mlpref-lock-" + Guid.NewGuid().ToString("N")[..8]);
        using var other = Sleeper();
        try
        {
            Directory.CreateDirectory(folder);
            var lockFile = Path.Combine(folder, OutputLock.FolderLockName);
            WriteLockOf(lockFile, other, Environment.MachineName);
            var e = Assert.Throws<OutputLockedException>(() => OutputLock.ForFolder(folder));
            Assert.Equal(other.Id, e.Holder.ProcessId);
            Assert.Contains($"process {other.Id} on {Environment.MachineName}", e.Message);
            Assert.Contains("started " + other.StartTime.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss"), e.Message);
            Assert.True(File.Exists(lockFile)); // the holder's lock is left alone

            // A holder on another machine cannot be checked: honoured, and the message says how to clear it.
            WriteLockOf(lockFile, other, "some-other-host");
            var remote = Assert.Throws<OutputLockedException>(() => OutputLock.ForFolder(folder));
            Assert.Contains("another machine", remote.Message);
        }
        finally
        {
            other.Kill();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void ADeadRunsLockIsTakenOverAndSaysSo()
    {
        var job = Path.Combine(Path.GetTempPath(), "mlpref-lock-" + Guid.NewGuid().ToString("N")[..8] + ".jsonl");
        using var dead = Sleeper();
        var (deadId, deadStart) = (dead.Id, dead.StartTime.ToUniversalTime());
        dead.Kill();
        dead.WaitForExit();
        WriteLockOf(job + ".lock", deadId, deadStart, Environment.MachineName);
        try
        {
            using (var taken = OutputLock.ForFile(job))
            {
                Assert.NotNull(taken.TakenOverFrom);
                Assert.Equal(deadId, taken.TakenOverFrom!.ProcessId);
                Assert.Contains("no longer exists", taken.TakeOverNotice);
                Assert.Contains($"process {deadId}", taken.TakeOverNotice);
                var mine = JsonSerializer.Deserialize<OutputLockHolder>(File.ReadAllText(job + ".lock"))!;
                Assert.Equal(Environment.ProcessId, mine.ProcessId);

                // The same process may take it again (a trainer inside the command that holds it); released with the last.
                using (var again = OutputLock.ForFile(job))
                    Assert.Null(again.TakenOverFrom);
                Assert.True(File.Exists(job + ".lock"));
            }
            Assert.False(File.Exists(job + ".lock"));
        }
        finally
        {
            File.Delete(job + ".lock");
        }
    }

    [Fact]
    public void TrainingIntoALockedFolderIsRefusedBeforeAnyWork()
    {
        using var toy = new ToyPreferenceData();
        using var other = Sleeper();
        try
        {
            var ml = new MLContext(seed: 1);
            var o = MpoTrainerLearningTests.Fast(toy);
            o.MaxSteps = 1;
            o.OutputDirectory = Path.Combine(toy.Root, "out");
            Directory.CreateDirectory(o.OutputDirectory);
            WriteLockOf(Path.Combine(o.OutputDirectory, OutputLock.FolderLockName), other, Environment.MachineName);
            var e = Assert.Throws<OutputLockedException>(() => ml.Preference.Trainers.Mpo(o).Fit(ml.Data.LoadFromEnumerable(toy.Rows(4, 1))));
            Assert.Equal(other.Id, e.Holder.ProcessId);
            Assert.False(File.Exists(Path.Combine(o.OutputDirectory, "metrics.jsonl")));
        }
        finally
        {
            other.Kill();
        }
    }

    [Fact]
    public void APairJobFileAndAnMmprFolderAreLockedToo()
    {
        using var toy = new ToyPreferenceData();
        using var other = Sleeper();
        try
        {
            // The pair job file: locked beside it (job.jsonl.lock) for the whole run; refused before any sampling.
            var job = Path.Combine(toy.Root, "job.jsonl");
            WriteLockOf(job + ".lock", other, Environment.MachineName);
            using var model = VisionLanguageModel.Load(toy.ModelPath);
            var rows = new List<PairSource> { new(0, [], "What is 1 + 1?", "2", null) };
            var e = Assert.Throws<OutputLockedException>(() => CorrectnessPairPipeline.Run(model, rows, new CorrectnessPipelineOptions { OutputPath = job, ShowProgress = false }));
            Assert.Equal(other.Id, e.Holder.ProcessId);
            Assert.False(File.Exists(job));

            // The MMPR folder: its meta.json and jsonl are written under the folder's lock.
            var ml = new MLContext(seed: 0);
            var mmpr = Path.Combine(toy.Root, "mmpr");
            Directory.CreateDirectory(mmpr);
            WriteLockOf(Path.Combine(mmpr, OutputLock.FolderLockName), other, Environment.MachineName);
            var pairs = ml.Data.LoadFromEnumerable(toy.Rows(2, seed: 1));
            Assert.Throws<OutputLockedException>(() => ml.Preference.Data.SaveMmpr(pairs, mmpr, "pairs"));
            Assert.False(File.Exists(Path.Combine(mmpr, "meta.json")));
        }
        finally
        {
            other.Kill();
        }
    }
}
