using System.Text.Json;
using Microsoft.ML.Preference.Cli;
using Microsoft.ML.Preference.Tests.Trainers;

namespace Microsoft.ML.Preference.Tests.Cli;

[Collection("Console")]
public class BuildPairsCommandTests
{
    /// <summary>A questions jsonl of <paramref name="count"/> toy rows, images relative to the toy folder.</summary>
    private static string WriteQuestions(ToyPreferenceData toy, int count, int seed)
    {
        var questions = Path.Combine(toy.Root, "questions.jsonl");
        File.WriteAllLines(questions, toy.Rows(count, seed).Select(r => JsonSerializer.Serialize(new
        {
            image = Path.GetRelativePath(toy.Root, r.Image), question = r.Prompt, answer_gt = ToyPreferenceData.ColourOf(r.Chosen),
        })));
        return questions;
    }

    [Fact]
    public void AnswerModeReachesTheJobAndAnUnknownModeIsRefused()
    {
        using var toy = new ToyPreferenceData();
        var questions = WriteQuestions(toy, 3, seed: 3);
        string[] Args(string job, string mode) =>
            ["build-pairs", "--pipeline", "correctness", "--answer-mode", mode, "--model", toy.ModelPath, "--data", questions, "--out", job,
             "--samples", "2", "--max-new-tokens", "4", "--device", "cpu"];

        var direct = Path.Combine(toy.Root, "direct.jsonl");
        Assert.Equal(0, Program.Main(Args(direct, "direct")));
        Assert.Contains("\"answer_mode\":\"Direct\"", File.ReadLines(direct).First());
        Assert.Equal(3, File.ReadLines(direct).Count(l => l.Contains("\"row_done\"")));

        var cot = Path.Combine(toy.Root, "cot.jsonl");
        Assert.Equal(0, Program.Main(Args(cot, "cot")));
        Assert.DoesNotContain("answer_mode", File.ReadLines(cot).First());

        // Resuming the Direct job as a CoT one would mix two prompts in one file: refused, and the file is kept.
        var before = File.ReadAllText(direct);
        Assert.Equal(1, Program.Main(Args(direct, "cot")));
        Assert.Equal(before, File.ReadAllText(direct));

        Assert.NotEqual(0, Program.Main(Args(Path.Combine(toy.Root, "other.jsonl"), "short")));
        Assert.False(File.Exists(Path.Combine(toy.Root, "other.jsonl")));
    }

    [Fact]
    public void ThreeShardJobsOneInterruptedAndRerunMergeToTheSingleBuildsMmprBytes()
    {
        using var toy = new ToyPreferenceData();
        var questions = WriteQuestions(toy, 7, seed: 5);
        string[] Args(string job, params string[] more) =>
            ["build-pairs", "--pipeline", "correctness", "--model", toy.ModelPath, "--data", questions, "--out", job,
             "--samples", "3", "--max-new-tokens", "3", "--device", "cpu", .. more];

        var single = Path.Combine(toy.Root, "single.jsonl");
        Assert.Equal(0, Program.Main(Args(single)));
        var job = Path.Combine(toy.Root, "sharded.jsonl");
        for (int k = 0; k < 3; k++)
            Assert.Equal(0, Program.Main(Args(job, "--shard-index", k.ToString(), "--shard-count", "3")));
        var shards = Enumerable.Range(0, 3).Select(k => Path.Combine(toy.Root, $"sharded.shard-{k}-of-3.jsonl")).ToArray();
        Assert.Equal([3, 2, 2], shards.Select(f => File.ReadLines(f).Count(l => l.Contains("\"row_done\""))));
        Assert.False(Directory.Exists(job + ".mmpr"));   // a shard writes no MMPR folder of its own

        // Shard 1 interrupted in its second row (the file cut there, as a kill leaves it), merged too early, then rerun.
        var finished = File.ReadAllBytes(shards[1]);
        var firstRowEnd = File.ReadAllLines(shards[1]).TakeWhile(l => !l.Contains("\"row_done\"")).Sum(l => System.Text.Encoding.UTF8.GetByteCount(l) + 1)
            + System.Text.Encoding.UTF8.GetByteCount(File.ReadLines(shards[1]).First(l => l.Contains("\"row_done\""))) + 1;
        File.WriteAllBytes(shards[1], finished[..(firstRowEnd + 25)]);
        var merged = Path.Combine(toy.Root, "merged");
        Assert.Equal(1, Program.Main(["merge-pairs", "--out", merged, .. shards]));
        Assert.False(Directory.Exists(merged));
        Assert.Equal(0, Program.Main(Args(job, "--shard-index", "1", "--shard-count", "3")));
        Assert.Equal(finished, File.ReadAllBytes(shards[1]));

        Assert.Equal(0, Program.Main(["merge-pairs", "--out", merged, .. shards.Reverse()]));
        foreach (var file in new[] { "meta.json", "pairs.jsonl", "pairs.jsonl.stats.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(single + ".mmpr", file)), File.ReadAllBytes(Path.Combine(merged, file)));
        // The same records as the single build, shard by shard (the untrained model's samples are format failures).
        static IEnumerable<string> Records(string path) => File.ReadLines(path).Where(l => l.Contains("\"kind\""));
        Assert.Equal(Records(single).Order(), shards.SelectMany(Records).Order());
        Assert.True(Records(single).Any(), "the build wrote no record at all");
        Assert.True(File.Exists(single + ".stats.json"));
    }
}
