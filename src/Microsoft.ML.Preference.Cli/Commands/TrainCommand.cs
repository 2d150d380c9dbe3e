using System.CommandLine;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo train</c>: the MPO trainer from a model folder and a jsonl or MMPR meta.json of pairs (flags: <see cref="TrainCommandOptions"/>).</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var flags = new TrainCommandOptions();
        var command = new Command("train",
            "Train an InternVL model with MPO (or any TRL preference loss) on preference pairs; --recipe internvl2|internvl2.5|internvl3 takes a published InternVL MPO script's settings.");
        flags.AddTo(command);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var dataPath = parse.GetValue(flags.Data) ?? parse.GetValue(flags.Meta)!;
            CliErrors.RowsFrom(dataPath);
            var ml = new MLContext(seed: parse.GetValue(flags.Seed));
            CliErrors.ShowWarnings(ml);
            var options = flags.ToTrainerOptions(parse);
            var imageRoot = parse.GetValue(flags.ImageRoot);
            var rows = Load(ml, dataPath, imageRoot);
            var validation = parse.GetValue(flags.Validation) is { } path ? Load(ml, path, imageRoot) : null;
            var outDir = options.OutputDirectory!;
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler stop = (_, e) =>
            {
                e.Cancel = true;
                cancel.Cancel();
                AnsiConsole.MarkupLine("[yellow]Stopping at the next step boundary (a checkpoint will be written)...[/]");
            };
            Console.CancelKeyPress += stop;
            options.CancellationToken = cancel.Token;
            // Held from training through final/: a second run on this folder is refused (the trainer re-enters it).
            using var outputLock = OutputLock.ForFolder(outDir);
            if (outputLock.TakeOverNotice is { } notice)
                Console.Error.WriteLine($"warning: {notice}");
            // A cancellation (TrainingCanceledException, naming the checkpoint to resume from) reaches CliErrors: exit 130.
            using var trained = ml.Preference.Trainers.Mpo(options).Fit(rows, validation);
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

    /// <summary>Pairs from an MMPR meta.json (any *.json) or a jsonl, whose relative images resolve against <paramref name="imageRoot"/> or its folder.</summary>
    private static IDataView Load(MLContext ml, string path, string? imageRoot)
    {
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return ml.Preference.Data.LoadMmpr(path);
        var root = imageRoot ?? Path.GetDirectoryName(Path.GetFullPath(path));
        return ml.Data.LoadFromEnumerable(PreferenceJsonl.Read(path, root));
    }
}
