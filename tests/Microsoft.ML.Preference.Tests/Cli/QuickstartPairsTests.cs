using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Cli.Quickstart;

namespace Microsoft.ML.Preference.Tests.Cli;

/// <summary>The quickstart's pair step on a base small enough to train in seconds: which jobs it writes, and where.</summary>
public sealed class QuickstartPairsTests : IDisposable
{
    private readonly string _out = Directory.CreateTempSubdirectory("mlpref-quickstart-pairs-").FullName;

    public void Dispose() => Directory.Delete(_out, recursive: true);

    private QuickstartOptions Tiny(bool directPairs) => new()
    {
        OutputFolder = _out, TrainItems = 8, TestItems = 4, BaseEpochs = 1, Hidden = 16, Layers = 1, VisionHidden = 16, VisionLayers = 1,
        TokenizerMerges = 50, ShortCotShare = 0, PairQuestions = 4, SamplesPerQuestion = 3, MaxNewTokens = 8, DirectPairs = directPairs,
    };

    /// <summary>Runs steps 1-4; a two-step base rarely answers right, so "no pairs" is an allowed end, and is said so.</summary>
    private void BuildPairs(bool directPairs)
    {
        var error = Record.Exception(() => new QuickstartRunner(Tiny(directPairs)).PrepareBaseAndPairs());
        if (error is not null)
            Assert.Contains("produced no pairs", error.Message);
    }

    private static int RowsDone(string job) => File.ReadLines(job).Count(l => l.Contains("\"row_done\""));

    [Fact]
    public void DirectPairsAreSampledIntoAJobOfTheirOwnBesideTheCotPairs()
    {
        var cot = Path.Combine(_out, "pairs.jsonl");
        var direct = Path.Combine(_out, "pairs-direct.jsonl");

        BuildPairs(directPairs: false);
        Assert.Equal(4, RowsDone(cot));
        Assert.DoesNotContain("answer_mode", File.ReadLines(cot).First());
        Assert.False(File.Exists(direct));
        var cotJob = File.ReadAllText(cot);

        // With Direct pairs: the CoT job is reused as it is, and the same questions are sampled with the Direct prompt.
        BuildPairs(directPairs: true);
        Assert.Equal(cotJob, File.ReadAllText(cot));
        Assert.Equal(4, RowsDone(direct));
        Assert.Contains("\"answer_mode\":\"Direct\"", File.ReadLines(direct).First());

        // Each record's prompt is the one the quickstart's table was measured with (pairs and format failures alike).
        foreach (var (job, before) in new[] { (cot, (Func<string, string>)QuickstartPromptsBefore.ChainOfThought), (direct, QuickstartPromptsBefore.Direct) })
        {
            Assert.Contains("\"instructions\":{\"name\":\"mlnet\"", File.ReadLines(job).First());
            foreach (var record in File.ReadLines(job).Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => o.ContainsKey("question")))
                Assert.Equal(before(record["question_orig"]!.GetValue<string>()), record["question"]!.GetValue<string>());
        }
    }
}
