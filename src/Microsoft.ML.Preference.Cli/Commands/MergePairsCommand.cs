using System.CommandLine;
using Microsoft.ML.Preference.Data.Pairs;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo merge-pairs</c>: joins the finished shards of <c>mpo build-pairs --shard-count N</c> into one MMPR folder.</summary>
internal static class MergePairsCommand
{
    public static Command Create()
    {
        var jobs = new Argument<string[]>("shards") { Description = "every shard's job file (e.g. pairs.shard-*-of-4.jsonl)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "the MMPR folder (meta.json + <name>.jsonl)", Required = true };
        var name = new Option<string>("--name") { Description = "data set name in meta.json", DefaultValueFactory = _ => "pairs" };
        var command = new Command("merge-pairs", "Join the finished shards of a pair build into one MMPR folder, in a canonical order (the bytes a single-process build writes).")
        {
            jobs, output, name,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var files = parse.GetValue(jobs)!;
            var (meta, quality) = PairShardMerger.Merge(new MLContext(seed: 0), files, parse.GetValue(output)!, parse.GetValue(name)!);
            AnsiConsole.WriteLine($"{files.Length} shard(s) merged: {quality.Questions} questions, {quality.Pairs} pairs");
            AnsiConsole.WriteLine(quality.ToString());
            AnsiConsole.WriteLine($"MMPR layout: {meta}");
        }));
        return command;
    }
}
