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

/// <summary>
/// <c>mpo build-pairs</c>: MMPR's data engine over a jsonl of questions, whole or one shard of it; its defaults are
/// MMPR's (<see cref="CorrectnessPipelineOptions"/>, <see cref="DropoutNtpOptions"/>).
/// </summary>
internal static class BuildPairsCommand
{
    public static Command Create()
    {
        var pipeline = new Option<string>("--pipeline") { Description = "correctness (needs answer_gt) or dropout-ntp", Required = true };
        pipeline.AcceptOnlyFromAmong("correctness", "dropout-ntp");
        var model = new Option<string>("--model") { Description = "the generator's model folder", Required = true };
        var data = new Option<string>("--data") { Description = "jsonl: {\"image\", \"question\", \"answer_gt\" | \"response\"} per line", Required = true };
        var output = new Option<string>("--out") { Description = "job file (jsonl), appended row by row; rerun with the same file to resume (a shard writes <out>.shard-K-of-N.jsonl)", Required = true };
        var mmpr = new Option<string?>("--mmpr-out") { Description = "folder for the MMPR layout (meta.json + <name>.jsonl); default: <out>.mmpr (not written by a shard: see merge-pairs)" };
        var name = new Option<string>("--name") { Description = "data set name in meta.json", DefaultValueFactory = _ => "pairs" };
        var imageRoot = new Option<string?>("--image-root") { Description = "folder relative image paths are resolved against (default: the jsonl's folder)" };
        var answerMode = new Option<string>("--answer-mode") { Description = "correctness only: cot (the paper's, default) or direct (short answers)", DefaultValueFactory = _ => "cot" };
        answerMode.AcceptOnlyFromAmong("cot", "direct");
        var instructions = InstructionsOption.Create(
            "the template questions are put into before sampling; each pair's question is the prompt its responses were sampled with. " +
            "correctness default: mmpr; dropout-ntp default: the questions as given");
        var samples = AtLeast(2, new Option<int>("--samples") { Description = "responses sampled per question (MMPR: 32)", DefaultValueFactory = _ => 32 }, "a pair needs two samples");
        var maxPairs = AtLeast(1, new Option<int>("--max-pairs") { Description = "pairs kept per question and rule (MMPR: 15; 3 when questions x samples > 500,000)", DefaultValueFactory = _ => 15 });
        var temperature = AboveZero(new Option<double>("--temperature") { Description = "sampling temperature (MMPR: 0.7)", DefaultValueFactory = _ => 0.7 }, "greedy samples are all the same answer");
        var topK = AtLeast(0, new Option<int>("--top-k") { Description = "sample among the k likeliest tokens, 0 for all (MMPR: 50)", DefaultValueFactory = _ => 50 });
        var topP = AboveAtMost(0, 1, new Option<double>("--top-p") { Description = "nucleus sampling (MMPR: 1.0)", DefaultValueFactory = _ => 1.0 });
        var maxTokens = AtLeastWhenGiven(1, new Option<int?>("--max-new-tokens") { Description = "default MMPR's: 4096 (correctness), 2048 (dropout-ntp)" });
        var containment = new Option<string>("--containment") { Description = "correctness: answer (MMPR's: the chosen answer inside the rejected one), response (the whole chosen text inside the rejected one) or none", DefaultValueFactory = _ => "answer" };
        containment.AcceptOnlyFromAmong("answer", "response", "none");
        var formatPairs = new Option<bool>("--format-failure-pairs") { Description = "correctness: pair correct responses with format failures too (MMPR's)", DefaultValueFactory = _ => true };
        var requireReasoning = new Option<bool>("--require-reasoning") { Description = "correctness, cot: MMPR's parse rules (reasoning before the final line; otherwise a format failure)", DefaultValueFactory = _ => true };
        var keepRatio = Between(0, 1, new Option<double>("--keep-ratio") { DefaultValueFactory = _ => 0.5 });
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var shardIndex = new Option<int?>("--shard-index") { Description = "this shard (0-based); default JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN" };
        var shardCount = new Option<int?>("--shard-count") { Description = "how many shards; default SLURM_ARRAY_TASK_COUNT (a Kubernetes Job's completions must be given)" };
        var command = new Command("build-pairs", "Build preference pairs with MMPR's correctness-based or DropoutNTP pipeline (whole, or one shard of the input).")
        {
            pipeline, model, data, output, mmpr, name, imageRoot, answerMode, instructions, samples, maxPairs, temperature, topK, topP, maxTokens, containment,
            formatPairs, requireReasoning, keepRatio, seed, device, shardIndex, shardCount,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var shard = PairJobShard.Resolve(parse.GetValue(shardIndex), parse.GetValue(shardCount));
            var jobPath = shard.JobPath(parse.GetValue(output)!);
            var dataPath = parse.GetValue(data)!;
            CliErrors.RowsFrom(dataPath);
            var rows = PreferenceJsonl.ReadQuestions(dataPath, parse.GetValue(imageRoot) ?? Path.GetDirectoryName(Path.GetFullPath(dataPath))).ToList();
            bool correctness = parse.GetValue(pipeline) == "correctness";
            var sampling = new GenerationOptions
            {
                Temperature = parse.GetValue(temperature), TopK = parse.GetValue(topK), TopP = parse.GetValue(topP),
                MaxNewTokens = parse.GetValue(maxTokens) ?? (correctness ? 4096 : 2048),
            };
            sampling.Validate();
            using var vlm = VisionLanguageModel.Load(parse.GetValue(model)!, device: TorchDevices.Resolve(parse.GetValue(device)!, "--device"));
            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
            if (shard.IsPartial)
                AnsiConsole.WriteLine($"Shard {shard.Index} of {shard.Count}: {rows.Where((_, i) => shard.Owns(i)).Count()} of {rows.Count} questions, into {jobPath}");
            try
            {
                PairConstructionStatistics stats = correctness
                    ? CorrectnessPairPipeline.Run(vlm, rows, new CorrectnessPipelineOptions
                    {
                        OutputPath = jobPath, SamplesPerQuestion = parse.GetValue(samples), MaxPairsPerQuestion = parse.GetValue(maxPairs),
                        AnswerMode = parse.GetValue(answerMode) == "direct" ? AnswerMode.Direct : AnswerMode.ChainOfThought,
                        Instructions = InstructionsOption.Read(parse, instructions) ?? InstructionTemplate.Default,
                        Sampling = sampling, Seed = parse.GetValue(seed), Shard = shard, ShowProgress = true, CancellationToken = cancel.Token,
                        Containment = parse.GetValue(containment) switch
                        {
                            "response" => PairContainmentFilter.ResponseText,
                            "none" => PairContainmentFilter.None,
                            _ => PairContainmentFilter.ExtractedAnswer,
                        },
                        FormatFailurePairs = parse.GetValue(formatPairs), RequireReasoning = parse.GetValue(requireReasoning),
                    })
                    : DropoutNtpPipeline.Run(vlm, rows, new DropoutNtpOptions
                    {
                        OutputPath = jobPath, KeepRatio = parse.GetValue(keepRatio), Instructions = InstructionsOption.Read(parse, instructions), Generation = sampling, Seed = parse.GetValue(seed),
                        Shard = shard, ShowProgress = true, CancellationToken = cancel.Token,
                    });
                AnsiConsole.WriteLine(stats.ToString());
                var quality = PairQualityStatistics.From(PairJobFile.Read(jobPath));
                AnsiConsole.WriteLine(quality.ToString());
                AnsiConsole.WriteLine($"Pair statistics: {PairQualityStatistics.PathFor(jobPath)}");
                if (shard.IsPartial)
                {
                    AnsiConsole.WriteLine($"Shard {shard.Index} of {shard.Count} is finished. When every shard is, join them: " +
                        $"mpo merge-pairs --out <folder> --name {parse.GetValue(name)} {shard.JobPath(parse.GetValue(output)!).Replace($"shard-{shard.Index}-of", "shard-*-of")}");
                    return;
                }
                var ml = new MLContext(seed: 0);
                var (meta, _) = PairShardMerger.Merge(ml, [jobPath], parse.GetValue(mmpr) ?? jobPath + ".mmpr", parse.GetValue(name)!);
                AnsiConsole.WriteLine($"MMPR layout: {meta}");
            }
            catch (OperationCanceledException e)
            {
                // Reported by CliErrors as a cancellation (exit 130), with where the finished rows are.
                throw new OperationCanceledException($"finished rows are in {jobPath}; run the same command again to continue.", e);
            }
        }));
        return command;
    }
}
