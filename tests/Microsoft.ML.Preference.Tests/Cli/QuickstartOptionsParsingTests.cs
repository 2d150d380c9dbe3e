using System.CommandLine;
using Microsoft.ML.Preference.Cli.Commands;
using Microsoft.ML.Preference.Cli.Quickstart;

namespace Microsoft.ML.Preference.Tests.Cli;

public class QuickstartOptionsParsingTests
{
    private static QuickstartOptions Parse(params string[] args)
    {
        var sizes = new QuickstartCommand.SizeOptions();
        var command = new System.CommandLine.Command("quickstart");
        sizes.AddTo(command);
        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        return sizes.Read(parse);
    }

    [Fact]
    public void NoOptionsGiveTheDefaults() => Assert.Equal(new QuickstartOptions(), Parse());

    [Fact]
    public void EachSizeOptionReachesItsSetting()
    {
        var parsed = Parse("--out", "o", "--seed", "3", "--train-items", "40", "--test-items", "8", "--base-epochs", "2", "--base-lr", "0.001",
            "--base-batch-size", "4", "--short-cot-share", "0.6", "--short-answer-epochs", "2", "--short-answer-lr", "0.0003", "--pair-questions", "5", "--samples", "4",
            "--max-pairs", "2", "--direct-pairs", "--temperature", "0.7", "--preference-epochs", "3", "--preference-lr", "0.0002",
            "--beta", "0.5", "--hidden", "128", "--layers", "4", "--vision-hidden", "96", "--vision-layers", "3");
        Assert.Equal(new QuickstartOptions
        {
            OutputFolder = "o", Seed = 3, TrainItems = 40, TestItems = 8, BaseEpochs = 2, BaseLearningRate = 0.001, BaseBatchSize = 4, ShortCotShare = 0.6,
            ShortAnswerEpochs = 2, ShortAnswerLearningRate = 0.0003, PairQuestions = 5, SamplesPerQuestion = 4, MaxPairsPerQuestion = 2, DirectPairs = true,
            SamplingTemperature = 0.7, PreferenceEpochs = 3, PreferenceLearningRate = 0.0002,
            Beta = 0.5, Hidden = 128, Layers = 4, VisionHidden = 96, VisionLayers = 3,
        }, parsed);
    }

    [Theory]
    [InlineData("--short-cot-share", "1", "--short-cot-share must be at least 0 and below 1, not 1.")]
    [InlineData("--short-cot-share", "-0.1", "--short-cot-share must be at least 0 and below 1, not -0.1.")]
    [InlineData("--samples", "1", "--samples must be at least 2 (a pair needs two samples), not 1.")]
    [InlineData("--temperature", "0", "--temperature must be above 0 (greedy samples are all the same answer), not 0.")]
    [InlineData("--base-epochs", "0", "--base-epochs must be at least 1, not 0.")]
    [InlineData("--base-batch-size", "0", "--base-batch-size must be at least 1, not 0.")]
    [InlineData("--preference-lr", "-1e-4", "--preference-lr must be above 0, not -0.0001.")]
    public void AnOptionOutOfRangeIsAParseErrorThatNamesIt(string option, string value, string message)
    {
        var sizes = new QuickstartCommand.SizeOptions();
        var command = new System.CommandLine.Command("quickstart");
        sizes.AddTo(command);
        var error = Assert.Single(command.Parse([option, value]).Errors);
        Assert.Equal(message, error.Message);
    }
}
