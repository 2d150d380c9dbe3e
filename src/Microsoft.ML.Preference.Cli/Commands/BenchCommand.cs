using System.CommandLine;
using Microsoft.ML.Preference.Cli.Benchmarks;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo bench ...</c>: the benchmarks, each printing its figures against the benchmark configuration.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks on the benchmark configuration (bench/bench-config.json).");
        bench.Subcommands.Add(Forward());
        bench.Subcommands.Add(Generate());
        return bench;
    }

    private static Option<string> ConfigOption() => new("--config")
    {
        Description = "benchmark configuration file",
        DefaultValueFactory = _ => BenchConfig.DefaultPath,
    };

    private static Command Forward()
    {
        var config = ConfigOption();
        var command = new Command("forward", "Forward tokens/s of the whole model (random weights) against the machine's GEMM roof.") { config };
        command.SetAction(parse =>
        {
            var bench = BenchConfig.Load(parse.GetValue(config)!);
            AnsiConsole.MarkupLineInterpolated($"[bold]bench forward[/]: {bench.Sequences} sequences x {bench.SequenceLength} tokens, {bench.Pairs * bench.TilesPerSample * 2} tiles of {bench.Model.ForceImageSize}px, float32, cpu");
            var r = ForwardBenchmark.Run(bench, s => AnsiConsole.WriteLine(s));
            var table = new Table().AddColumns("figure", "value");
            table.AddRow("median forward", $"{r.MedianSeconds * 1000:F1} ms (runs: {string.Join(", ", r.Seconds.Select(s => $"{s * 1000:F0}"))})");
            table.AddRow("tokens/s", $"{r.TokensPerSecond:F0}");
            table.AddRow("matmul work (analytic)", $"{r.ForwardGflop:F2} GFLOP");
            table.AddRow("achieved", $"{r.AchievedGflops:F1} GFLOP/s");
            table.AddRow("GEMM roof (same run)", $"{r.GemmGflops:F1} GFLOP/s");
            table.AddRow("fraction of roof", $"{r.RoofFraction:P1}");
            table.AddRow("peak RSS", $"{r.PeakRssBytes / (1024.0 * 1024 * 1024):F2} GiB");
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }

    private static Command Generate()
    {
        var config = ConfigOption();
        var command = new Command("generate", "Prefill and decode tokens/s of greedy generation with the KV cache (random weights).") { config };
        command.SetAction(parse =>
        {
            var bench = BenchConfig.Load(parse.GetValue(config)!);
            AnsiConsole.WriteLine($"bench generate: {bench.Pairs} prompts x {bench.PromptTokens} tokens ({bench.TilesPerSample} tile each), {bench.ChosenTokens} new tokens, greedy, float32, cpu, {bench.Threads} threads");
            var r = GenerationBenchmark.Run(bench);
            var table = new Table().AddColumns("figure", "value");
            table.AddRow("prefill (to first token)", $"{r.PrefillSeconds * 1000:F1} ms = {r.PrefillTokensPerSecond:F0} prompt tokens/s");
            table.AddRow("decode", $"{r.DecodeSeconds * 1000:F1} ms for {r.NewTokens - 1} steps = {r.DecodeTokensPerSecond:F0} tokens/s ({r.DecodeSeconds * 1000 / (r.NewTokens - 1):F2} ms/step for the batch)");
            table.AddRow("peak RSS", $"{r.PeakRssBytes / (1024.0 * 1024 * 1024):F2} GiB");
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }
}
