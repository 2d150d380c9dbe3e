using System.CommandLine;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;
using Spectre.Console;
using static Microsoft.ML.Preference.Cli.Commands.OptionRanges;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo build-pairs</c>: MMPR's data engine over a jsonl of questions.</summary>
internal static class BuildPairsCommand
{
    public static Command Create()
    {
        var pipeline = new Option<string>("--pipeline") { Description = "correctness (needs answer_gt) or dropout-ntp", Required = true };
        pipeline.AcceptOnlyFromAmong("correctness", "dropout-ntp");
        var model = new Option<string>("--model") { Description = "the generator's model folder", Required = true };
        var data = new Option<string>("--data") { Description = "jsonl: {\"image\", \"question\", \"answer_gt\" | \"response\"} per line", Required = true };
        var output = new Option<string>("--out") { Description = "job file (jsonl), appended row by row; rerun with the same file to resume", Required = true };
        var mmpr = new Option<string?>("--mmpr-out") { Description = "folder for the MMPR layout (meta.json + <name>.jsonl); default: <out>.mmpr" };
        var name = new Option<string>("--name") { Description = "data set name in meta.json", DefaultValueFactory = _ => "pairs" };
        var imageRoot = new Option<string?>("--image-root") { Description = "folder relative image paths are resolved against (default: the jsonl's folder)" };
        var answerMode = new Option<string>("--answer-mode") { Description = "correctness only: cot (the paper's, default) or direct (short answers)", DefaultValueFactory = _ => "cot" };
        answerMode.AcceptOnlyFromAmong("cot", "direct");
        var samples = AtLeast(2, new Option<int>("--samples") { DefaultValueFactory = _ => 8 }, "a pair needs two samples");
        var maxPairs = AtLeast(1, new Option<int>("--max-pairs") { DefaultValueFactory = _ => 15 });
        var temperature = AboveZero(new Option<double>("--temperature") { DefaultValueFactory = _ => 1.0 }, "greedy samples are all the same answer");
        var maxTokens = AtLeast(1, new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 512 });
        var keepRatio = Between(0, 1, new Option<double>("--keep-ratio") { DefaultValueFactory = _ => 0.5 });
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var command = new Command("build-pairs", "Build preference pairs with MMPR's correctness-based or DropoutNTP pipeline.")
        {
            pipeline, model, data, output, mmpr, name, imageRoot, answerMode, samples, maxPairs, temperature, maxTokens, keepRatio, seed, device,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var dataPath = parse.GetValue(data)!;
            CliErrors.RowsFrom(dataPath);
            var rows = PreferenceJsonl.ReadQuestions(dataPath, parse.GetValue(imageRoot) ?? Path.GetDirectoryName(Path.GetFullPath(dataPath))).ToList();
            using var vlm = VisionLanguageModel.Load(parse.GetValue(model)!, device: TorchDevices.Resolve(parse.GetValue(device)!, "--device"));
            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
            try
            {
                PairConstructionStatistics stats = parse.GetValue(pipeline) == "correctness"
                    ? CorrectnessPairPipeline.Run(vlm, rows, new CorrectnessPipelineOptions
                    {
                        OutputPath = parse.GetValue(output)!, SamplesPerQuestion = parse.GetValue(samples), MaxPairsPerQuestion = parse.GetValue(maxPairs),
                        AnswerMode = parse.GetValue(answerMode) == "direct" ? AnswerMode.Direct : AnswerMode.ChainOfThought,
                        Sampling = new GenerationOptions { Temperature = parse.GetValue(temperature), MaxNewTokens = parse.GetValue(maxTokens) },
                        Seed = parse.GetValue(seed), ShowProgress = true, CancellationToken = cancel.Token,
                    })
                    : DropoutNtpPipeline.Run(vlm, rows, new DropoutNtpOptions
                    {
                        OutputPath = parse.GetValue(output)!, KeepRatio = parse.GetValue(keepRatio),
                        Generation = new GenerationOptions { MaxNewTokens = parse.GetValue(maxTokens) }, Seed = parse.GetValue(seed),
                        ShowProgress = true, CancellationToken = cancel.Token,
                    });
                AnsiConsole.WriteLine(stats.ToString());
                var ml = new MLContext(seed: 0);
                var result = ml.Preference.Data.LoadPairs(parse.GetValue(output)!);
                var meta = ml.Preference.Data.SaveMmpr(result.Pairs, parse.GetValue(mmpr) ?? parse.GetValue(output)! + ".mmpr", parse.GetValue(name)!);
                AnsiConsole.WriteLine($"MMPR layout: {meta}");
            }
            catch (OperationCanceledException e)
            {
                // Reported by CliErrors as a cancellation (exit 130), with where the finished rows are.
                throw new OperationCanceledException($"finished rows are in {parse.GetValue(output)}; run the same command again to continue.", e);
            }
        }));
        return command;
    }
}
