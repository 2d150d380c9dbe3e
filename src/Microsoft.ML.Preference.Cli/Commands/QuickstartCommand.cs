using System.CommandLine;
using Spectre.Console;
using static Microsoft.ML.Preference.Cli.Commands.OptionRanges;
using Microsoft.ML.Preference.Cli.Quickstart;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo quickstart</c>: the built-in benchmark where a tiny model learns, and MPO is compared with SFT.</summary>
internal static class QuickstartCommand
{
    public static Command Create()
    {
        var sizes = new SizeOptions();
        var command = new Command("quickstart", "Base model, pairs, SFT and MPO on a built-in synthetic visual-reasoning set; prints the Direct vs CoT table and writes a PNG.");
        sizes.AddTo(command);
        command.SetAction(parse =>
        {
            var options = sizes.Read(parse);
            return RunStoppable(options, cancel => new QuickstartRunner(options, cancel).Run());
        });
        return command;
    }

    /// <summary><c>mpo ablation</c>: every loss of the paper's Tables 6-7 from the quickstart's base and pairs.</summary>
    public static Command CreateAblation()
    {
        var sizes = new SizeOptions();
        var only = new Option<string?>("--only") { Description = "comma-separated subset, e.g. DPO,DPO+,ORPO" };
        var command = new Command("ablation", "Train DPO, RSO, IPO, cDPO, robust, BCO, SPPO, AOT, TR-DPO, ORPO and each + SFT from the same base and pairs; " +
            "writes the Direct / CoT / delta table (markdown) and a PNG. Long: not part of CI. Give it the quickstart's sizes to reuse its base and pairs.") { only };
        sizes.AddTo(command);
        command.SetAction(parse =>
        {
            var options = sizes.Read(parse);
            var names = parse.GetValue(only)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet();
            return RunStoppable(options, cancel => AblationRunner.Run(options, names, cancel));
        });
        return command;
    }

    /// <summary>
    /// Runs <paramref name="run"/> with Ctrl+C wired to a cancellation token: the run stops at the next step boundary
    /// (or after the current question while building pairs) and says what it kept, instead of dying mid-write.
    /// </summary>
    private static int RunStoppable(QuickstartOptions options, Action<CancellationToken> run)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler stop = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
            AnsiConsole.MarkupLine("[yellow]Stopping at the next step boundary...[/]");
        };
        Console.CancelKeyPress += stop;
        try
        {
            return CliErrors.Run(() => run(cancel.Token));
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            AnsiConsole.WriteLine($"Stopped. {Path.GetFullPath(options.OutputFolder)} keeps the data, the base model if it was finished, and the " +
                "pairs of the questions done; the same command goes on from there (a stopped base from its checkpoint; an unfinished SFT or MPO run starts again).");
            return 130;
        }
        finally
        {
            Console.CancelKeyPress -= stop;
        }
    }

    /// <summary>The options both commands share; each defaults to <see cref="QuickstartOptions"/>'s value.</summary>
    internal sealed class SizeOptions
    {
        private static readonly QuickstartOptions Defaults = new();

        private readonly Option<string> _output = new("--out") { Description = "output folder (a base model and pairs already there are reused)", DefaultValueFactory = _ => Defaults.OutputFolder };
        private readonly Option<int> _seed = new("--seed") { Description = "seed of the data, the weights, sampling and training", DefaultValueFactory = _ => Defaults.Seed };
        private readonly Option<int> _train = AtLeast(1, new("--train-items") { Description = "training items", DefaultValueFactory = _ => Defaults.TrainItems });
        private readonly Option<int> _test = AtLeast(1, new("--test-items") { Description = "test items", DefaultValueFactory = _ => Defaults.TestItems });
        private readonly Option<int> _baseEpochs = AtLeast(1, new("--base-epochs") { Description = "epochs of the base model's SFT", DefaultValueFactory = _ => Defaults.BaseEpochs });
        private readonly Option<double> _baseLr = AboveZero(new("--base-lr") { Description = "learning rate of the base model's SFT (a wider or deeper model may need a smaller one)", DefaultValueFactory = _ => Defaults.BaseLearningRate });
        private readonly Option<int> _baseBatch = AtLeast(1, new("--base-batch-size") { Description = "rows per step of the base model's SFT (both stages)", DefaultValueFactory = _ => Defaults.BaseBatchSize });
        private readonly Option<double> _shortCot = Checked(new Option<double>("--short-cot-share") { Description = "share of the CoT prompts answered without reasoning in the base's last stage (0: no such stage)", DefaultValueFactory = _ => Defaults.ShortCotShare }, v => v >= 0 && v < 1, "at least 0 and below 1");
        private readonly Option<int> _shortEpochs = AtLeast(1, new("--short-answer-epochs") { Description = "epochs of the base's last stage", DefaultValueFactory = _ => Defaults.ShortAnswerEpochs });
        private readonly Option<double> _shortLr = AboveZero(new("--short-answer-lr") { Description = "learning rate of the base's last stage", DefaultValueFactory = _ => Defaults.ShortAnswerLearningRate });
        private readonly Option<int> _questions = AtLeast(1, new("--pair-questions") { Description = "training questions the pairs are sampled for", DefaultValueFactory = _ => Defaults.PairQuestions });
        private readonly Option<int> _samples = AtLeast(2, new("--samples") { Description = "samples per question", DefaultValueFactory = _ => Defaults.SamplesPerQuestion }, "a pair needs two samples");
        private readonly Option<int> _maxPairs = AtLeast(1, new("--max-pairs") { Description = "pairs kept per question", DefaultValueFactory = _ => Defaults.MaxPairsPerQuestion });
        private readonly Option<bool> _directPairs = new("--direct-pairs") { Description = "also build pairs from Direct samples and train on them (keeps the direct answers)", DefaultValueFactory = _ => Defaults.DirectPairs };
        private readonly Option<double> _temperature = AboveZero(new("--temperature") { Description = "sampling temperature of the pair samples", DefaultValueFactory = _ => Defaults.SamplingTemperature }, "greedy samples are all the same answer");
        private readonly Option<int> _prefEpochs = AtLeast(1, new("--preference-epochs") { Description = "epochs of SFT-on-chosen and of MPO", DefaultValueFactory = _ => Defaults.PreferenceEpochs });
        private readonly Option<double> _prefLr = AboveZero(new("--preference-lr") { Description = "learning rate of SFT-on-chosen and of MPO", DefaultValueFactory = _ => Defaults.PreferenceLearningRate });
        private readonly Option<double> _beta = AboveZero(new("--beta") { Description = "beta of MPO's preference terms (and of the ablation's losses)", DefaultValueFactory = _ => Defaults.Beta });
        private readonly Option<int> _hidden = AtLeast(1, new("--hidden") { Description = "decoder width of the tiny model", DefaultValueFactory = _ => Defaults.Hidden });
        private readonly Option<int> _layers = AtLeast(1, new("--layers") { Description = "decoder layers of the tiny model", DefaultValueFactory = _ => Defaults.Layers });
        private readonly Option<int> _visionHidden = AtLeast(1, new("--vision-hidden") { Description = "vision encoder width of the tiny model", DefaultValueFactory = _ => Defaults.VisionHidden });
        private readonly Option<int> _visionLayers = AtLeast(1, new("--vision-layers") { Description = "vision encoder layers of the tiny model", DefaultValueFactory = _ => Defaults.VisionLayers });

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { _output, _seed, _train, _test, _baseEpochs, _baseLr, _baseBatch, _shortCot, _shortEpochs, _shortLr, _questions, _samples, _maxPairs, _directPairs, _temperature, _prefEpochs, _prefLr, _beta, _hidden, _layers, _visionHidden, _visionLayers })
                command.Options.Add(option);
        }

        public QuickstartOptions Read(ParseResult parse) => new()
        {
            OutputFolder = parse.GetValue(_output)!, Seed = parse.GetValue(_seed), TrainItems = parse.GetValue(_train), TestItems = parse.GetValue(_test),
            BaseEpochs = parse.GetValue(_baseEpochs), BaseLearningRate = parse.GetValue(_baseLr), BaseBatchSize = parse.GetValue(_baseBatch), ShortCotShare = parse.GetValue(_shortCot), ShortAnswerEpochs = parse.GetValue(_shortEpochs), ShortAnswerLearningRate = parse.GetValue(_shortLr), PairQuestions = parse.GetValue(_questions), SamplesPerQuestion = parse.GetValue(_samples), MaxPairsPerQuestion = parse.GetValue(_maxPairs), DirectPairs = parse.GetValue(_directPairs),
            SamplingTemperature = parse.GetValue(_temperature), PreferenceEpochs = parse.GetValue(_prefEpochs),
            PreferenceLearningRate = parse.GetValue(_prefLr), Beta = parse.GetValue(_beta), Hidden = parse.GetValue(_hidden), Layers = parse.GetValue(_layers),
            VisionHidden = parse.GetValue(_visionHidden), VisionLayers = parse.GetValue(_visionLayers),
        };
    }
}
