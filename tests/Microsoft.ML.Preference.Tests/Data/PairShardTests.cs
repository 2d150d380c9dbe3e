using Microsoft.ML.Preference.Data.Pairs;

namespace Microsoft.ML.Preference.Tests.Data;

/// <summary>Sharded pair builds and their merge, with the stand-in pipeline of <see cref="PairJobResumeTests"/>.</summary>
public sealed class PairShardTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "pair-shard-tests-" + Guid.NewGuid().ToString("N"));
    private readonly MLContext _ml = new(seed: 0);

    public PairShardTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] BuildShards(IReadOnlyList<PairSource> rows, int count, string name = "pairs.jsonl")
    {
        var files = new string[count];
        for (int k = 0; k < count; k++)
        {
            var shard = new PairJobShard(k, count);
            files[k] = shard.JobPath(Path.Combine(_dir, name));
            PairJobResumeTests.Run(files[k], rows, shard);
        }
        return files;
    }

    [Fact]
    public void ThreeShardsOneCutMidRowAndRerunMergeToTheBytesOfOneBuild()
    {
        var rows = PairJobResumeTests.Questions(11);
        var single = Path.Combine(_dir, "single.jsonl");
        PairJobResumeTests.Run(single, rows);
        var singleMeta = _ml.Preference.Data.MergePairShards([single], Path.Combine(_dir, "single-mmpr"), "pairs");

        var files = BuildShards(rows, 3);
        Assert.Equal(Path.Combine(_dir, "pairs.shard-1-of-3.jsonl"), files[1]);
        Assert.Equal([4, 4, 3], files.Select(f => PairJobFile.Read(f).Markers.Count));
        // Shard 1 killed in the middle of its third row: cut there, rerun alone.
        var finished = File.ReadAllBytes(files[1]);
        var lines = File.ReadAllLines(files[1]);
        int secondMarker = lines.Select((l, i) => (l, i)).Where(x => x.l.Contains("\"row_done\"")).ElementAt(1).i;
        int cutAt = lines.Take(secondMarker + 1).Sum(l => l.Length + 1) + 30;   // ASCII lines: characters are bytes
        File.WriteAllBytes(files[1], finished[..cutAt]);
        Assert.Equal(2, PairJobFile.Read(files[1]).Markers.Count);
        Assert.Null(PairJobFile.Read(files[1]).Done);
        PairJobResumeTests.Run(files[1], rows, new PairJobShard(1, 3));
        Assert.Equal(finished, File.ReadAllBytes(files[1]));

        var merged = _ml.Preference.Data.MergePairShards(files.Reverse(), Path.Combine(_dir, "merged-mmpr"), "pairs");
        Assert.Equal(File.ReadAllBytes(singleMeta), File.ReadAllBytes(merged));
        var singleJsonl = Path.Combine(_dir, "single-mmpr", "pairs.jsonl");
        var mergedJsonl = Path.Combine(_dir, "merged-mmpr", "pairs.jsonl");
        Assert.Equal(File.ReadAllBytes(singleJsonl), File.ReadAllBytes(mergedJsonl));
        Assert.Equal(File.ReadAllBytes(PairQualityStatistics.PathFor(singleJsonl)), File.ReadAllBytes(PairQualityStatistics.PathFor(mergedJsonl)));
        Assert.Equal(Enumerable.Range(0, 11).Sum(i => i % 3), File.ReadLines(mergedJsonl).Count());
    }

    [Fact]
    public void UnfinishedMissingRepeatedOrMismatchedShardsAreRefusedByName()
    {
        var rows = PairJobResumeTests.Questions(6);
        var files = BuildShards(rows, 3);
        var output = Path.Combine(_dir, "out");
        InvalidDataException Refused(params string[] jobs) =>
            Assert.Throws<InvalidDataException>(() => _ml.Preference.Data.MergePairShards(jobs, output, "pairs"));

        var missing = Refused(files[0], files[2]);
        Assert.Contains("Shard(s) 1 of 3 are missing", missing.Message);
        var repeated = Refused(files[0], files[1], files[1]);
        Assert.Contains("both shard 1 of 3", repeated.Message);

        // Unfinished: the last row of shard 2 cut off (its job_done line with it).
        var unfinished = Path.Combine(_dir, "pairs.shard-2-of-3.jsonl");
        var bytes = File.ReadAllBytes(unfinished);
        File.WriteAllBytes(unfinished, bytes[..(bytes.Length - 200)]);
        var e = Refused(files);
        Assert.Contains(unfinished, e.Message);
        Assert.Contains("unfinished", e.Message);
        File.WriteAllBytes(unfinished, bytes);

        // Another shard count, another input, other settings.
        var four = BuildShards(rows, 4, "four.jsonl");
        Assert.Contains("one of 3", Refused(files[0], files[1], four[2]).Message);
        var other = BuildShards(PairJobResumeTests.Questions(7), 3, "other.jsonl");
        var input = Refused(files[0], files[1], other[2]);
        Assert.Contains(other[2], input.Message);
        Assert.Contains("another input", input.Message);
        var hotter = new PairJobShard(2, 3).JobPath(Path.Combine(_dir, "hotter.jsonl"));
        Microsoft.ML.Preference.Data.Pairs.PairJobRunner.Run(rows, hotter, new System.Text.Json.Nodes.JsonObject { ["pipeline"] = "fake", ["seed"] = 4 },
            false, null, CancellationToken.None, (row, _) => PairJobResumeTests.FakeRow(row), "fake", new PairJobShard(2, 3));
        var settings = Refused(files[0], files[1], hotter);
        Assert.Contains(hotter, settings.Message);
        Assert.Contains("seed: 3 → 4", settings.Message);
        Assert.False(Directory.Exists(output));

        // A shard resumed under another shard index is refused before any work.
        var wrongIndex = Assert.Throws<InvalidOperationException>(() => PairJobResumeTests.Run(files[0], rows, new PairJobShard(1, 3)));
        Assert.Contains("shard", wrongIndex.Message);
    }

    [Fact]
    public void SchedulerVariablesGiveTheShardAndExplicitOptionsWin()
    {
        Func<string, string?> Env(params (string Name, string Value)[] vars) => name => vars.FirstOrDefault(v => v.Name == name).Value;
        Assert.Equal(PairJobShard.Whole, PairJobShard.Resolve(null, null, Env()));
        Assert.Equal(new PairJobShard(2, 5), PairJobShard.Resolve(null, 5, Env(("JOB_COMPLETION_INDEX", "2"))));
        Assert.Equal(new PairJobShard(3, 8), PairJobShard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "8"))));
        Assert.Equal(new PairJobShard(0, 2), PairJobShard.Resolve(0, 2, Env(("JOB_COMPLETION_INDEX", "1"))));
        Assert.Contains("--shard-count", Assert.Throws<ArgumentException>(() => PairJobShard.Resolve(null, null, Env(("JOB_COMPLETION_INDEX", "1")))).Message);
        Assert.Contains("JOB_COMPLETION_INDEX", Assert.Throws<ArgumentException>(() => PairJobShard.Resolve(null, 2, Env(("JOB_COMPLETION_INDEX", "2")))).Message);
        Assert.Contains("--shard-index", Assert.Throws<ArgumentException>(() => PairJobShard.Resolve(null, 3, Env())).Message);
        Assert.Contains("not a whole number", Assert.Throws<ArgumentException>(() => PairJobShard.Resolve(null, 3, Env(("JOB_COMPLETION_INDEX", "x")))).Message);
        Assert.Equal("/a/b.shard-0-of-2.jsonl", new PairJobShard(0, 2).JobPath("/a/b.jsonl"));
        Assert.Equal("/a/b.jsonl", PairJobShard.Whole.JobPath("/a/b.jsonl"));
    }
}
