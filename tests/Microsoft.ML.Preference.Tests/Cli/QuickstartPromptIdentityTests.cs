using Microsoft.ML.Preference.Cli.Quickstart;
using Microsoft.ML.Preference.Data.Synthetic;
using Microsoft.ML.Preference.Generation;

namespace Microsoft.ML.Preference.Tests.Cli;

/// <summary>
/// The quickstart's prompts as they were before instruction templates existed (commit 9a1265e): the question, trimmed at
/// its end, a new line and the instruction of the mode, written out here so that a change of the template shows.
/// </summary>
internal static class QuickstartPromptsBefore
{
    public static string ChainOfThought(string question) => question.TrimEnd() + "\n" +
        "Answer the question step by step. Show your reasoning, then give the final answer on the last line in the form \"Final answer: <answer>\".";

    public static string Direct(string question) => question.TrimEnd() + "\n" + "Answer with the final answer only: a word, a number or an option letter.";
}

/// <summary>
/// The quickstart's table was measured with the prompts of <see cref="QuickstartPromptsBefore"/>. Every prompt its
/// models see (the tokenizer's corpus, the base's teaching rows, the pairs' sampling prompts and the evaluation prompts)
/// is now <see cref="QuickstartRunner.Instructions"/> applied to an item's question, or a pair's stored prompt (which the
/// pipeline built with the same template, see QuickstartPairsTests). The same text gives the same token ids, so the
/// table's runs are unchanged when these strings are.
/// </summary>
public sealed class QuickstartPromptIdentityTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mlpref-quickstart-prompts-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void EveryQuickstartQuestionGetsTheSamePromptAsBeforeInBothModes(int seed)
    {
        // The quickstart's generator and seed (its table is reported for seeds 0 and 1), a tenth of its 4000 items.
        var data = SyntheticReasoningGenerator.Generate(new SyntheticReasoningOptions
        {
            OutputFolder = Path.Combine(_root, seed.ToString()), TrainCount = 400, TestCount = 100, Seed = seed, ImageSize = 32,
        });
        var questions = data.Train.Concat(data.Test).Select(i => i.Question).ToList();
        Assert.Equal(4, data.Train.Select(i => i.Family).Distinct().Count()); // every task family is among them
        foreach (var q in questions)
        {
            Assert.Equal(QuickstartPromptsBefore.ChainOfThought(q), QuickstartRunner.Instructions.Apply(q, AnswerMode.ChainOfThought));
            Assert.Equal(QuickstartPromptsBefore.Direct(q), QuickstartRunner.Instructions.Apply(q, AnswerMode.Direct));
            // A pair's stored prompt asked again (the evaluation of a prompt that already carries the template) is unchanged.
            var stored = QuickstartRunner.Instructions.Apply(q, AnswerMode.ChainOfThought);
            Assert.Equal(stored, QuickstartRunner.Instructions.Apply(stored, AnswerMode.ChainOfThought));
        }
    }

    [Fact]
    public void ModelsTrainedOnTheQuickstartsRowsAskWithItsTemplate()
    {
        var data = SyntheticReasoningGenerator.Generate(new SyntheticReasoningOptions
        {
            OutputFolder = _root, TrainCount = 40, TestCount = 4, Seed = 0, ImageSize = 32,
        });
        // The base is trained on its teaching rows; the trainer hands the template those prompts carry to the model.
        var prompts = QuickstartRunner.BaseTeachingRows(data.Train, 0.5, 0).Select(r => r.Prompt).ToList();
        Assert.Same(InstructionTemplate.MlNet, InstructionTemplate.Detect(prompts));
        Assert.Same(InstructionTemplate.MlNet, QuickstartRunner.Instructions);
    }
}
