using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Data.Pairs;

namespace Microsoft.ML.Preference.Tests.Data;

/// <summary>
/// The pair job file without a model: a deterministic stand-in pipeline writes rows of several records, and the file
/// is cut at every byte (what a kill -9 or a full disk leaves) to show that a rerun ends with the uninterrupted bytes.
/// </summary>
public sealed class PairJobResumeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "pair-job-tests-" + Guid.NewGuid().ToString("N"));

    public PairJobResumeTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static List<PairSource> Questions(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new PairSource(i, [], $"question {i}: what is {i} + {i}?", GroundTruth: (2 * i).ToString()))];

    /// <summary>Row i writes i % 3 pairs (so some rows write none) and one format failure, all from the row alone.</summary>
    internal static (IEnumerable<JsonObject>, JsonObject) FakeRow(PairSource row)
    {
        var lines = new List<JsonObject>();
        int pairs = (int)(row.RowIndex % 3);
        for (int k = 0; k < pairs; k++)
        {
            var pair = PairJobRunner.BaseRecord(row, row.Question, "pair");
            pair["chosen"] = $"{row.RowIndex} and {row.RowIndex} make {row.GroundTruth}.\nSo it is {row.GroundTruth}.\nFinal answer: {row.GroundTruth}";
            pair["rejected"] = k == 0 ? "Final answer: 7" : $"Guessing.\nMaybe {k}.\nFinal answer: {k}";
            lines.Add(pair);
        }
        var failure = PairJobRunner.BaseRecord(row, row.Question, "format_failure");
        failure["response"] = "I cannot tell.";
        lines.Add(failure);
        return (lines, new JsonObject { ["pairs"] = pairs, ["format_failures"] = 1, ["skipped_substring"] = (int)(row.RowIndex % 2), ["all_wrong"] = pairs == 0 ? 1 : 0 });
    }

    internal static PairConstructionStatistics Run(string path, IReadOnlyList<PairSource> rows, PairJobShard? shard = null, Func<PairSource, bool>? failOn = null) =>
        PairJobRunner.Run(rows, path, new JsonObject { ["pipeline"] = "fake", ["seed"] = 3 }, showProgress: false, progress: null, CancellationToken.None,
            (row, _) => failOn?.Invoke(row) == true ? throw new IOException("No space left on device") : FakeRow(row), "fake", shard);

    [Fact]
    public void AFileCutAtAnyByteResumesToTheUninterruptedBytes()
    {
        var rows = Questions(7);
        var whole = Path.Combine(_dir, "whole.jsonl");
        var expectedStats = Run(whole, rows);
        var expected = File.ReadAllBytes(whole);
        Assert.Equal(7, expectedStats.Questions);
        Assert.Equal(0 + 1 + 2 + 0 + 1 + 2 + 0, expectedStats.Pairs);

        var cut = Path.Combine(_dir, "cut.jsonl");
        for (int length = 0; length < expected.Length; length++)
        {
            File.WriteAllBytes(cut, expected[..length]);
            // What a reader sees of a torn file: only the rows whose done marker was written, and the file is not changed.
            var torn = PairJobFile.Read(cut);
            Assert.Equal(length, new FileInfo(cut).Length);
            Assert.Equal(torn.Markers.Sum(m => m["pairs"]!.GetValue<int>()), torn.Records.Count(r => r["kind"]!.GetValue<string>() == "pair"));
            Assert.Equal(torn.Markers.Count, torn.Records.Count(r => r["kind"]!.GetValue<string>() == "format_failure"));

            var stats = Run(cut, rows);
            Assert.Equal(expected, File.ReadAllBytes(cut));
            Assert.Equal(expectedStats, stats);
        }
    }

    [Fact]
    public void AWriteThatFailsMidJobLosesNoFinishedRowAndTheRerunWritesEachRowOnce()
    {
        var rows = Questions(6);
        var whole = Path.Combine(_dir, "whole.jsonl");
        Run(whole, rows);

        // The disk fills while row 4 is processed: rows 0-3 stay, nothing of row 4 is written.
        var job = Path.Combine(_dir, "full-disk.jsonl");
        Assert.Throws<IOException>(() => Run(job, rows, failOn: r => r.RowIndex == 4));
        var partial = PairJobFile.Read(job);
        Assert.Equal(4, partial.Markers.Count);
        Assert.Null(partial.Done);
        Assert.Equal(partial.Length, partial.CommittedLength);

        // A torn block of row 4 left behind (the part a failed write got to disk), then the rerun.
        var block = File.ReadAllBytes(whole)[(int)partial.Length..];
        File.AppendAllText(job, System.Text.Encoding.UTF8.GetString(block[..(block.Length / 2)]));
        var stats = Run(job, rows);
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(job));
        Assert.Equal(6, stats.Questions);
        Assert.Equal(6, File.ReadLines(job).Count(l => l.Contains("\"row_done\"")));
        Assert.Single(File.ReadLines(job), l => l.Contains("\"job_done\""));
    }

    [Fact]
    public void AnAlteredLineBeforeFinishedRowsIsRefusedByFileAndLine()
    {
        var job = Path.Combine(_dir, "altered.jsonl");
        Run(job, Questions(3));
        var lines = File.ReadAllLines(job);
        lines[2] = "{\"kind\": \"pair\", broken";
        File.WriteAllText(job, string.Join("\n", lines) + "\n");
        var before = File.ReadAllText(job);
        var e = Assert.Throws<InvalidDataException>(() => Run(job, Questions(3)));
        Assert.Contains($"{job}:3", e.Message);
        Assert.Equal(before, File.ReadAllText(job));
    }

    [Fact]
    public void QualityStatisticsAreCountedFromTheFileAndWrittenBesideIt()
    {
        var job = Path.Combine(_dir, "quality.jsonl");
        Run(job, Questions(6));
        var written = JsonNode.Parse(File.ReadAllText(PairQualityStatistics.PathFor(job)))!.AsObject();
        // Rows 1 and 4 write one pair each (chosen reasons, rejected is a bare "Final answer: 7"); rows 2 and 5 two each.
        Assert.Equal(6, written["pairs"]!.GetValue<int>());
        Assert.Equal(0, written["bare_chosen"]!.GetValue<int>());
        Assert.Equal(4, written["chain_versus_bare_pairs"]!.GetValue<int>());
        Assert.Equal(6, written["format_failures"]!.GetValue<int>());
        Assert.Equal(3, written["skipped_chosen_inside_rejected"]!.GetValue<int>());
        Assert.Equal("""{"10":2,"2":1,"4":2,"8":1}""", written["chosen_per_ground_truth"]!.ToJsonString());
        Assert.Equal(2.0, written["answer_imbalance"]!.GetValue<double>());
    }

    [Theory]
    [InlineData("Final answer: 12", true)]
    [InlineData("  \nFinal Answer: 12", true)]
    [InlineData("12", true)]
    [InlineData("4 + 8 = 12\nFinal answer: 12", false)]
    [InlineData("It is red\nbecause it is", false)]
    public void ABareAnswerHasNothingBeforeItsFinalLine(string response, bool bare) =>
        Assert.Equal(bare, PairQualityStatistics.IsBareAnswer(response));
}
