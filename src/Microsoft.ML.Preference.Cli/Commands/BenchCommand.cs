using System.CommandLine;
using Microsoft.ML.Preference.Cli.Benchmarks;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.Preference.Vision;
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
        bench.Subcommands.Add(Train());
        bench.Subcommands.Add(Decode());
        return bench;
    }

    private static Command Decode()
    {
        var image = new Option<string>("--image") { Description = "image file", Required = true };
        var maxPixels = OptionRanges.Checked(new Option<long>("--max-image-pixels") { Description = "pixel limit", DefaultValueFactory = _ => new ImageTilingOptions().MaxImagePixels }, v => v >= 1, "at least 1");
        var command = new Command("decode", "Decode one image as training does (bounded) and print the decoded size, the time and the peak RSS of this process.") { image, maxPixels };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var r = DecodeBenchmark.Run(parse.GetValue(image)!, new ImageTilingOptions { MaxImagePixels = parse.GetValue(maxPixels) });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"decode: {r.SourceWidth}x{r.SourceHeight} decoded as {r.DecodedWidth}x{r.DecodedHeight} in {r.Seconds:F2} s; peak RSS {r.PeakRssBytes / 1048576.0:F0} MiB"));
        }));
        return command;
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

    private static Command Train()
    {
        var config = ConfigOption();
        var variant = new Option<string?>("--variant") { Description = "run one variant in this process and print it as JSON (used by the parent run)" };
        var command = new Command("train", "Seconds per MPO step, tokens/s, peak RSS and fraction of the GEMM roof for four variants " +
            "(plain, shared image encoding, precomputed reference, both), each in its own process so peak memory is its own.") { config, variant };
        command.SetAction(parse =>
        {
            var bench = BenchConfig.Load(parse.GetValue(config)!);
            if (parse.GetValue(variant) is { } one)
            {
                var r = TrainStepBenchmark.Run(bench, Enum.Parse<TrainStepVariant>(one, ignoreCase: true));
                Console.WriteLine("RESULT " + JsonSerializer.Serialize(r));
                return 0;
            }
            AnsiConsole.WriteLine($"bench train: {bench.Pairs} pairs, {bench.Sequences} x {bench.SequenceLength} tokens, MPO loss, AdamW over every parameter, float32, cpu, {bench.Threads} threads");
            double gemm = GemmRoof.MeasureGflops();
            AnsiConsole.WriteLine($"GEMM 2048^3 fp32: {gemm:F1} GFLOP/s; a step holds {bench.MatmulGflopPerStep} GFLOP of matrix work (policy forward, 2x backward, reference forward)");
            var results = new List<TrainStepResult>();
            foreach (var v in Enum.GetValues<TrainStepVariant>())
            {
                var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
                foreach (var a in Environment.GetCommandLineArgs().Skip(1).Where(a => !a.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)))
                    psi.ArgumentList.Add(a);
                if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
                    psi.ArgumentList.Insert(0, typeof(Program).Assembly.Location);
                psi.ArgumentList.Add("--variant");
                psi.ArgumentList.Add(v.ToString());
                using var p = Process.Start(psi)!;
                var output = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                var line = output.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal))
                    ?? throw new InvalidOperationException($"variant {v} printed no result:\n{output}");
                results.Add(JsonSerializer.Deserialize<TrainStepResult>(line["RESULT ".Length..])!);
            }
            var plain = results[0].MedianSeconds;
            var table = new Table().AddColumns("variant", "median step", "tokens/s", "GFLOP/s (plain-step work)", "of GEMM roof", "vs plain", "peak RSS", "loss after 7 steps");
            foreach (var r in results)
            {
                double achieved = bench.MatmulGflopPerStep / r.MedianSeconds;
                table.AddRow(r.Variant.ToString(), $"{r.MedianSeconds * 1000:F0} ms", $"{r.Tokens / r.MedianSeconds:F0}", $"{achieved:F1}",
                    $"{achieved / gemm:P1}", $"{r.MedianSeconds / plain:F2}x", $"{r.PeakRssBytes / (1024.0 * 1024 * 1024):F2} GiB",
                    r.FinalLoss.ToString("F4", CultureInfo.InvariantCulture));
            }
            AnsiConsole.Write(table);
            AnsiConsole.WriteLine("GFLOP/s counts the plain step's matrix work for every variant, so faster variants can exceed the roof: they skip work.");
            return 0;
        });
        return command;
    }
}
