using Microsoft.ML.Preference.Cli.Quickstart;
using Microsoft.ML.Preference.Data.Synthetic;
using Microsoft.ML.Preference.Generation;

namespace Microsoft.ML.Preference.Tests.Cli;

/// <summary>The base's teaching rows, and the share of CoT prompts answered without reasoning.</summary>
public sealed class QuickstartTeachingRowsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mlpref-teaching-").FullName;
    private readonly IReadOnlyList<SyntheticReasoningItem> _train;

    public QuickstartTeachingRowsTests() =>
        _train = SyntheticReasoningGenerator.Generate(new SyntheticReasoningOptions
        {
            OutputFolder = _root, TrainCount = 400, TestCount = 4, Seed = 5, ImageSize = 32,
        }).Train;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void WithoutAShareEveryCotPromptGetsItsRationaleAndEveryDirectPromptItsAnswer()
    {
        var rows = QuickstartRunner.BaseTeachingRows(_train, shortCotShare: 0, seed: 5);
        Assert.Equal(2 * _train.Count, rows.Count);
        for (int i = 0; i < _train.Count; i++)
        {
            var (cot, direct) = (rows[2 * i], rows[2 * i + 1]);
            Assert.Equal(QuickstartPromptsBefore.ChainOfThought(_train[i].Question), cot.Prompt);
            Assert.Equal(_train[i].Rationale, cot.Chosen);
            Assert.Equal(QuickstartPromptsBefore.Direct(_train[i].Question), direct.Prompt);
            Assert.Equal(_train[i].Answer, direct.Chosen);
            Assert.NotEqual(_train[i].Answer, AnswerExtractor.Extract(cot.Rejected).Answer);
            Assert.NotEqual(_train[i].Answer, direct.Rejected);
        }
    }

    [Fact]
    public void ShortCotRowsAreTheRationalesFinalLineAndTakeTheirShareBySeed()
    {
        var rows = QuickstartRunner.BaseTeachingRows(_train, shortCotShare: 0.6, seed: 5);
        var cot = rows.Where((_, k) => k % 2 == 0).ToList();
        var isShort = cot.Select((r, i) => r.Chosen != _train[i].Rationale).ToList();

        // 400 draws at 0.6: the share lands within 0.1 of it (about four standard deviations).
        Assert.InRange(isShort.Count(s => s) / (double)cot.Count, 0.5, 0.7);
        for (int i = 0; i < cot.Count; i++)
        {
            if (!isShort[i])
                continue;
            Assert.Equal("Final answer: " + _train[i].Answer, cot[i].Chosen);
            Assert.Equal(_train[i].Answer, AnswerExtractor.Extract(cot[i].Chosen, AnswerMode.ChainOfThought).Answer);
        }

        // The Direct rows do not depend on the share; the draw does depend on the seed, and only on it.
        Assert.Equal(QuickstartRunner.BaseTeachingRows(_train, 0, 5).Where((_, k) => k % 2 == 1), rows.Where((_, k) => k % 2 == 1));
        Assert.Equal(rows, QuickstartRunner.BaseTeachingRows(_train, 0.6, 5));
        Assert.NotEqual(rows, QuickstartRunner.BaseTeachingRows(_train, 0.6, 6));
        Assert.All(QuickstartRunner.BaseTeachingRows(_train, 1, 5).Where((_, k) => k % 2 == 0), r => Assert.StartsWith("Final answer: ", r.Chosen));
    }
}
