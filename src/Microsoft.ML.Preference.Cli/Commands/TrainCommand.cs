using System.CommandLine;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo train</c>: the MPO trainer from a model folder and an MMPR-style jsonl.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "InternVL model folder to train", Required = true };
        var data = new Option<string>("--data") { Description = "jsonl: {\"image\", \"question\", \"chosen\", \"rejected\"} per line", Required = true };
        var output = new Option<string>("--out") { Description = "output folder: checkpoints, metrics.jsonl, training-curves.png and the trained model (final/)", Required = true };
        var imageRoot = new Option<string?>("--image-root") { Description = "folder relative image paths are resolved against (default: the jsonl's folder)" };
        var loss = new Option<string>("--loss") { Description = "loss terms as type:weight, TRL names", DefaultValueFactory = _ => "sigmoid:0.8,bco_pair:0.2,sft:1.0" };
        var beta = new Option<double>("--beta") { DefaultValueFactory = _ => 0.1 };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 1 };
        var maxSteps = new Option<int>("--max-steps") { Description = "stop after this many steps (0: run the epochs)", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 5e-6 };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 4 };
        var accumulation = new Option<int>("--grad-accum") { DefaultValueFactory = _ => 1 };
        var loraRank = new Option<int>("--lora-rank") { Description = "train a LoRA adapter of this rank (0: full fine-tuning)", DefaultValueFactory = _ => 0 };
        var saveSteps = new Option<int>("--save-steps") { DefaultValueFactory = _ => 0 };
        var resume = new Option<string?>("--resume") { Description = "checkpoint folder, or 'latest'" };
        var precompute = new Option<bool>("--precompute-reference") { Description = "compute the reference log-probs once, cached on disk" };
        var skipBad = new Option<bool>("--skip-bad-rows") { Description = "skip and count bad rows instead of stopping" };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var rejectedSpan = new Option<RejectedSpan>("--rejected-span")
        {
            Description = "rejected tokens the preference terms score: WholeResponse (the paper) or FirstDivergentStep (up to the end of the first line that differs from the chosen)",
            DefaultValueFactory = _ => RejectedSpan.WholeResponse,
        };
        var command = new Command("train", "Train an InternVL model with MPO (or any TRL preference loss) on a jsonl of preference pairs.")
        {
            model, data, output, imageRoot, loss, beta, epochs, maxSteps, lr, batch, accumulation, loraRank, saveSteps, resume, precompute, skipBad, device, seed, rejectedSpan,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var dataPath = parse.GetValue(data)!;
            CliErrors.RowsFrom(dataPath);
            var root = parse.GetValue(imageRoot) ?? Path.GetDirectoryName(Path.GetFullPath(dataPath));
            var ml = new MLContext(seed: parse.GetValue(seed));
            CliErrors.ShowWarnings(ml);
            var rows = ml.Data.LoadFromEnumerable(PreferenceJsonl.Read(dataPath, root));
            var outDir = parse.GetValue(output)!;
            var options = new MpoTrainer.Options
            {
                ModelPath = parse.GetValue(model)!,
                Loss = new PreferenceLossOptions { Terms = PreferenceLossOptions.ParseTerms(parse.GetValue(loss)!), Beta = parse.GetValue(beta) },
                NumberOfEpochs = parse.GetValue(epochs),
                MaxSteps = parse.GetValue(maxSteps),
                LearningRate = parse.GetValue(lr),
                BatchSize = parse.GetValue(batch),
                GradientAccumulationSteps = parse.GetValue(accumulation),
                Lora = parse.GetValue(loraRank) > 0 ? new LoraOptions { Rank = parse.GetValue(loraRank), Alpha = 2 * parse.GetValue(loraRank) } : null,
                SaveSteps = parse.GetValue(saveSteps),
                ResumeFromCheckpoint = parse.GetValue(resume),
                PrecomputeReferenceLogProbs = parse.GetValue(precompute),
                BadRows = parse.GetValue(skipBad) ? BadRowPolicy.Skip : BadRowPolicy.Fail,
                Device = parse.GetValue(device)!,
                Seed = parse.GetValue(seed),
                RejectedSpan = parse.GetValue(rejectedSpan),
                OutputDirectory = outDir,
            };
            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                cancel.Cancel();
                AnsiConsole.MarkupLine("[yellow]Stopping at the next step boundary (a checkpoint will be written)...[/]");
            };
            options.CancellationToken = cancel.Token;
            // Held from training through final/: a second run on this folder is refused (the trainer re-enters it).
            using var outputLock = OutputLock.ForFolder(outDir);
            if (outputLock.TakeOverNotice is { } notice)
                Console.Error.WriteLine($"warning: {notice}");
            // A cancellation (TrainingCanceledException, naming the checkpoint to resume from) reaches CliErrors: exit 130.
            using var trained = ml.Preference.Trainers.Mpo(options).Fit(rows);
            var final = Path.Combine(outDir, "final");
            if (trained.TrainingHistory.Count == 0)
            {
                // Resumed from the last checkpoint: nothing to train. Write what the end of a run writes if it is missing.
                if (!File.Exists(Path.Combine(final, "config.json")) || !Directory.EnumerateFiles(final, "*.safetensors").Any())
                    trained.Save(final);
                Console.WriteLine($"The run in {outDir} had already finished; nothing left to train.");
                AnsiConsole.WriteLine($"model: {final}; metrics: {Path.Combine(outDir, "metrics.jsonl")}; curves: {Path.Combine(outDir, "training-curves.png")}");
                return;
            }
            trained.Save(final);
            var last = trained.TrainingHistory[^1];
            AnsiConsole.WriteLine($"done: {last.Summary()}");
            AnsiConsole.WriteLine($"model: {final}; metrics: {Path.Combine(outDir, "metrics.jsonl")}; curves: {Path.Combine(outDir, "training-curves.png")}");
        }));
        return command;
    }
}
