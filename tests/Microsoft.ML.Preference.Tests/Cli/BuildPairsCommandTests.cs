using System.Text.Json;
using Microsoft.ML.Preference.Cli;
using Microsoft.ML.Preference.Tests.Trainers;

namespace Microsoft.ML.Preference.Tests.Cli;

[Collection("Console")]
public class BuildPairsCommandTests
{
    [Fact]
    public void AnswerModeReachesTheJobAndAnUnknownModeIsRefused()
    {
        using var toy = new ToyPreferenceData();
        var questions = Path.Combine(toy.Root, "questions.jsonl");
        File.WriteAllLines(questions, toy.Rows(3, seed: 3).Select(r => JsonSerializer.Serialize(new
        {
            image = Path.GetRelativePath(toy.Root, r.Image), question = r.Prompt, answer_gt = ToyPreferenceData.ColourOf(r.Chosen),
        })));
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
}
