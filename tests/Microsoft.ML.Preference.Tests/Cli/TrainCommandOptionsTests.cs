using System.CommandLine;
using Microsoft.ML.Preference.Cli.Commands;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Tests.Cli;

/// <summary><c>mpo train</c>'s flags: recipe then overrides, range checks at parse time, a complete --help.</summary>
public class TrainCommandOptionsTests
{
    private static readonly string[] Required = ["--model", "m", "--out", "o", "--data", "pairs.jsonl"];

    private static (ParseResult Parse, TrainCommandOptions Flags) ParseTrain(params string[] args)
    {
        var flags = new TrainCommandOptions();
        var command = new System.CommandLine.Command("train");
        flags.AddTo(command);
        return (command.Parse([.. Required, .. args]), flags);
    }

    private static MpoTrainer.Options Options(params string[] args)
    {
        var (parse, flags) = ParseTrain(args);
        Assert.Empty(parse.Errors);
        return flags.ToTrainerOptions(parse);
    }

    [Fact]
    public void NoFlagsGiveTheOptionsDefaults()
    {
        var o = Options();
        var d = new MpoTrainer.Options();
        Assert.Equal((d.LearningRate, d.WeightDecay, d.WarmupRatio, d.MaxLength, d.DType, d.GradientCheckpointing, d.FreezeVision, d.BatchSize, d.VisionDropPathRate),
            (o.LearningRate, o.WeightDecay, o.WarmupRatio, o.MaxLength, o.DType, o.GradientCheckpointing, o.FreezeVision, o.BatchSize, o.VisionDropPathRate));
        Assert.Null(o.Lora);
        Assert.Equal(PreferenceLossOptions.MpoTerms, o.Loss.Terms);
        Assert.Equal(("m", "o"), (o.ModelPath, o.OutputDirectory));
    }

    [Fact]
    public void TheRecipeSetsTheScriptsValuesAndExplicitFlagsOverrideIt()
    {
        var recipe = Options("--recipe", "internvl2.5");
        Assert.Equal((1e-6, 8192, 1, 256), (recipe.LearningRate, recipe.MaxLength, recipe.BatchSize, recipe.GradientAccumulationSteps));

        var o = Options("--recipe", "internvl3", "--lr", "3e-6", "--max-length", "512", "--batch-size", "2", "--grad-accum", "4",
            "--group-by-length", "--length-grouped-steps", "50", "--dtype", "float32", "--gradient-checkpointing", "false", "--freeze-vision", "--freeze-projector", "true", "--freeze-llm", "false",
            "--drop-path", "0", "--weight-decay", "0", "--warmup-ratio", "0.1", "--schedule", "Linear", "--max-grad-norm", "0.5",
            "--epochs", "3", "--max-steps", "7", "--save-steps", "2", "--eval-steps", "3", "--eval-on-start", "--master-weights", "false",
            "--lora-rank", "4", "--lora-alpha", "16", "--lora-dropout", "0.1", "--lora-targets", "q_proj, v_proj",
            "--loss", "sigmoid:1", "--beta", "0.2", "--reference-model", "ref", "--precompute-reference", "--reference-cache", "cache",
            "--seed", "5", "--system-message", "Be brief.", "--warmup-steps", "2");
        Assert.Equal(3e-6, o.LearningRate);
        Assert.Equal((512, 2, 4, "float32", false), (o.MaxLength, o.BatchSize, o.GradientAccumulationSteps, o.DType, o.GradientCheckpointing));
        Assert.Equal((true, true, false), (o.FreezeVision, o.FreezeProjector, o.FreezeLanguageModel));
        Assert.Equal((true, 50), (o.GroupByLength, o.LengthGroupedSteps));
        Assert.Equal((0.0, 0.0, 0.1, 2), (o.VisionDropPathRate, o.WeightDecay, o.WarmupRatio, o.WarmupSteps));
        Assert.Equal((LearningRateScheduleKind.Linear, 0.5, 3, 7, 2, 3, true, false),
            (o.Schedule, o.MaxGradNorm, o.NumberOfEpochs, o.MaxSteps, o.SaveSteps, o.EvalSteps, o.EvaluateOnStart, o.Float32MasterWeights));
        Assert.Equal((4, 16.0, 0.1), (o.Lora!.Rank, o.Lora.Alpha, o.Lora.Dropout));
        Assert.Equal(["q_proj", "v_proj"], o.Lora.TargetModules!);
        Assert.Equal((PreferenceLossType.Sigmoid, 0.2), (Assert.Single(o.Loss.Terms).Type, o.Loss.Beta));
        Assert.Equal((ReferenceModelKind.SeparateFolder, "ref", true, "cache"), (o.Reference, o.ReferenceModelPath, o.PrecomputeReferenceLogProbs, o.ReferenceCacheDirectory));
        Assert.Equal((5, "Be brief."), (o.Seed, o.SystemMessage));
    }

    [Theory]
    [InlineData("--save-steps", "-5", "--save-steps must be at least 0, not -5.")]
    [InlineData("--lora-rank", "-4", "--lora-rank must be at least 0, not -4.")]
    [InlineData("--batch-size", "0", "--batch-size must be at least 1, not 0.")]
    [InlineData("--grad-accum", "0", "--grad-accum must be at least 1, not 0.")]
    [InlineData("--length-grouped-steps", "-1", "--length-grouped-steps must be at least 0, not -1.")]
    [InlineData("--epochs", "0", "--epochs must be at least 1, not 0.")]
    [InlineData("--max-steps", "-1", "--max-steps must be at least 0, not -1.")]
    [InlineData("--eval-steps", "-2", "--eval-steps must be at least 0, not -2.")]
    [InlineData("--warmup-steps", "-1", "--warmup-steps must be at least 0, not -1.")]
    [InlineData("--max-length", "8", "--max-length must be at least 16, not 8.")]
    [InlineData("--lr", "0", "--lr must be above 0, not 0.")]
    [InlineData("--beta", "-0.1", "--beta must be above 0, not -0.1.")]
    [InlineData("--lora-alpha", "0", "--lora-alpha must be above 0, not 0.")]
    [InlineData("--lora-dropout", "1", "--lora-dropout must be at least 0 and below 1, not 1.")]
    [InlineData("--drop-path", "1", "--drop-path must be at least 0 and below 1, not 1.")]
    [InlineData("--warmup-ratio", "1.5", "--warmup-ratio must be at least 0 and at most 1, not 1.5.")]
    [InlineData("--weight-decay", "-0.05", "--weight-decay must be at least 0, not -0.05.")]
    [InlineData("--max-grad-norm", "-1", "--max-grad-norm must be at least 0, not -1.")]
    [InlineData("--ref-sync-steps", "-3", "--ref-sync-steps must be at least 0, not -3.")]
    [InlineData("--ref-sync-mixup", "0", "--ref-sync-mixup must be above 0 and at most 1, not 0.")]
    public void ANumberOutOfRangeIsAParseErrorThatNamesTheFlag(string flag, string value, string message)
    {
        var error = Assert.Single(ParseTrain(flag, value).Parse.Errors);
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("--recipe", "internvl9")]
    [InlineData("--dtype", "float16")]
    [InlineData("--schedule", "Sawtooth")]
    public void AnUnknownNameIsAParseErrorThatNamesTheFlag(string flag, string value)
    {
        var error = Assert.Single(ParseTrain(flag, value).Parse.Errors);
        Assert.Contains(value, error.Message);
        Assert.Contains(flag, error.Message);
    }

    [Fact]
    public void PairsComeFromExactlyOneOfDataAndMeta()
    {
        var flags = new TrainCommandOptions();
        var command = new System.CommandLine.Command("train");
        flags.AddTo(command);
        Assert.Contains("--meta", Assert.Single(command.Parse(["--model", "m", "--out", "o"]).Errors).Message);
        Assert.Contains("not both", Assert.Single(command.Parse(["--model", "m", "--out", "o", "--data", "a.jsonl", "--meta", "meta.json"]).Errors).Message);
        Assert.Empty(command.Parse(["--model", "m", "--out", "o", "--meta", "meta.json"]).Errors);
    }

    [Fact]
    public void LoraSettingsWithoutARankAreRefused()
    {
        var (parse, flags) = ParseTrain("--lora-alpha", "16");
        var e = Assert.Throws<ArgumentException>(() => flags.ToTrainerOptions(parse));
        Assert.Contains("--lora-rank", e.Message);
    }

    [Fact]
    public void HelpListsEveryFlagAUserOfInternVLsScriptsSets()
    {
        var help = new StringWriter();
        var parse = Microsoft.ML.Preference.Cli.Program.BuildRoot().Parse(["train", "--help"]);
        Assert.Equal(0, parse.Invoke(new InvocationConfiguration { Output = help }));
        var text = help.ToString();
        string[] flags =
        [
            "--recipe", "--dtype", "--master-weights", "--gradient-checkpointing", "--max-length", "--drop-path", "--freeze-vision", "--freeze-projector",
            "--freeze-llm", "--lora-rank", "--lora-alpha", "--lora-dropout", "--lora-targets", "--batch-size", "--grad-accum", "--group-by-length", "--length-grouped-steps", "--lr",
            "--weight-decay", "--warmup-ratio", "--warmup-steps", "--schedule", "--max-grad-norm", "--epochs", "--max-steps", "--save-steps", "--eval-steps",
            "--eval-on-start", "--validation", "--reference-model", "--precompute-reference", "--reference-cache", "--ref-sync-steps",
            "--ref-sync-mixup", "--meta", "--data", "--model", "--out", "--image-root", "--loss", "--beta", "--rejected-span", "--resume",
            "--skip-bad-rows", "--device", "--seed", "--system-message",
        ];
        foreach (var flag in flags)
            Assert.Matches($@"(^|\s){System.Text.RegularExpressions.Regex.Escape(flag)}\b", text);
        foreach (var recipe in MpoRecipeNames.Names)
            Assert.Contains(recipe, text);
        // Every flag the command has is in that list: a new one must be added to it (and to the docs).
        var command = Microsoft.ML.Preference.Cli.Program.BuildRoot().Subcommands.Single(c => c.Name == "train");
        Assert.Equal(flags.Order(), command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal) && o.Name != "--help").Select(o => o.Name).Order());
    }
}
