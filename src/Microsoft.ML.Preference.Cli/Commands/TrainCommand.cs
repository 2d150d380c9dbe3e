using System.CommandLine;
using Microsoft.ML.Preference.Data;
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
            var ml = new MLContext(seed: parse.GetValue(flags.Seed));
            var options = flags.ToTrainerOptions(parse);
            var imageRoot = parse.GetValue(flags.ImageRoot);
            var rows = Load(ml, parse.GetValue(flags.Data) ?? parse.GetValue(flags.Meta)!, imageRoot);
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
            try
            {
                using var trained = ml.Preference.Trainers.Mpo(options).Fit(rows, validation);
                var final = Path.Combine(outDir, "final");
                trained.Save(final);
                var last = trained.TrainingHistory[^1];
                AnsiConsole.WriteLine($"done: {last.Summary()}");
                AnsiConsole.WriteLine($"model: {final}; metrics: {Path.Combine(outDir, "metrics.jsonl")}; curves: {Path.Combine(outDir, "training-curves.png")}");
            }
            catch (Trainers.Training.TrainingCanceledException e)
            {
                AnsiConsole.WriteLine(e.Message);
            }
            finally
            {
                Console.CancelKeyPress -= stop;
            }
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
