using System.CommandLine;
using Microsoft.ML.Preference.Cli.Benchmarks;
using Microsoft.ML.Preference.Cli.Quickstart;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.Preference.Images;
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
        bench.Subcommands.Add(Share());
        bench.Subcommands.Add(BaseStep());
        bench.Subcommands.Add(LoadCommand());
        bench.Subcommands.Add(Data());
        foreach (var scale in BenchScaleCommand.Create())
            bench.Subcommands.Add(scale);
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

    /// <summary>The configuration, its thread count replaced by --threads when given.</summary>
    private static BenchConfig Load(ParseResult parse, Option<string> config)
    {
        var bench = BenchConfig.Load(parse.GetValue(config)!);
        return parse.GetValue(Program.ThreadsOption) is int threads ? bench with { Threads = threads } : bench;
    }

    private static Command Forward()
    {
        var config = ConfigOption();
        var resultLine = new Option<bool>("--result-line") { Description = "print the result as one JSON line (used by bench share)", Hidden = true };
        var command = new Command("forward", "Forward tokens/s of the whole model (random weights) against the machine's GEMM roof.") { config, resultLine };
        command.SetAction(parse =>
        {
            var bench = Load(parse, config);
            if (parse.GetValue(resultLine))
            {
                MpoChildProcess.PrintResult(ForwardBenchmark.Run(bench));
                return 0;
            }
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

    private static Command Share()
    {
        var config = ConfigOption();
        var competitor = new Option<int>("--competitor-threads") { Description = "threads of the competing torch process", DefaultValueFactory = _ => 2 };
        var compareActive = new Option<bool>("--compare-active") { Description = "also run the forward beside it with OMP_WAIT_POLICY=ACTIVE (libgomp's spinning), to show what passive waiting saves" };
        var command = new Command("share", "Fair sharing: `bench forward` alone and beside a competing torch process, and the slowdown (target at most 2.5x).")
            { config, competitor, compareActive };
        command.SetAction(parse =>
        {
            var runs = SharingBenchmark.Run(parse.GetValue(config)!, parse.GetValue(Program.ThreadsOption), parse.GetValue(competitor),
                parse.GetValue(compareActive), s => AnsiConsole.WriteLine(s));
            var table = new Table().AddColumns("forward", "OMP_WAIT_POLICY", "median", "slowdown vs alone");
            foreach (var r in runs)
                table.AddRow(Markup.Escape(r.Label), Markup.Escape(r.WaitPolicy), $"{r.MedianSeconds * 1000:F0} ms", $"{r.MedianSeconds / runs[0].MedianSeconds:F2}x");
            AnsiConsole.Write(table);
            AnsiConsole.WriteLine($"Fair share beside one busy neighbour is 2x; the target is at most 2.5x (measured: {runs[1].MedianSeconds / runs[0].MedianSeconds:F2}x).");
            return 0;
        });
        return command;
    }

    private static Command BaseStep()
    {
        var steps = new Option<int>("--steps") { Description = "steps to profile", DefaultValueFactory = _ => 300 };
        var output = new Option<string>("--output") { Description = "folder of the quickstart's data and tiny model (reused when present)", DefaultValueFactory = _ => "bench-output/base-step" };
        var losses = new Option<string?>("--losses") { Description = "write every step's loss (round-trip format) to this file, to compare two builds byte for byte" };
        var batch = new Option<int>("--batch-size") { Description = "rows per step (the quickstart's --base-batch-size)", DefaultValueFactory = _ => new QuickstartOptions().BaseBatchSize };
        var command = new Command("base-step", "Where the quickstart's base training step spends its time: its data, model and trainer settings, a few hundred steps, " +
            "time per phase.") { steps, output, losses, batch };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(steps), rows = parse.GetValue(batch);
            if (n < 1 || rows < 1)
            {
                AnsiConsole.MarkupLine(n < 1 ? "[red]--steps must be at least 1.[/]" : "[red]--batch-size must be at least 1.[/]");
                return 2;
            }
            var r = BaseStepBenchmark.Run(parse.GetValue(output)!, n, rows, s => AnsiConsole.WriteLine(s));
            var table = new Table().AddColumns("phase", "ms per step", "share of the step");
            double perStep = r.Seconds / r.Steps;
            foreach (var (phase, seconds, _) in r.Phases)
                table.AddRow(Markup.Escape(phase), $"{seconds / r.Steps * 1000:F2}", $"{seconds / r.Seconds:P1}");
            AnsiConsole.Write(table);
            foreach (var (name, total) in r.Counters)
                AnsiConsole.WriteLine($"{name}: {(double)total / r.Steps:F0} per step");
            AnsiConsole.WriteLine($"{r.Steps} steps: {perStep * 1000:F1} ms per step ({r.TokensPerStep:F0} tokens), {r.Steps / r.Seconds * 60:F0} steps a minute; " +
                $"loss at the last step {r.Losses[^1].ToString("R", CultureInfo.InvariantCulture)}");
            if (parse.GetValue(losses) is { } path)
                BaseStepBenchmark.WriteLosses(path, r.Losses);
            return 0;
        });
        return command;
    }

    private static Command LoadCommand()
    {
        var seconds = new Option<double>("--seconds") { DefaultValueFactory = _ => 600 };
        var command = new Command("load", "Matrix products in a loop: the competing process of bench share.") { seconds };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            SharingBenchmark.Load(parse.GetValue(seconds));
            return 0;
        });
        return command;
    }

    private static Command Generate()
    {
        var config = ConfigOption();
        var samples = new Option<string?>("--samples")
        {
            Description = "comma-separated K values (e.g. 1,8,32): K samples of one prompt as one request, one prefill each; " +
                "prints the time to the first token and the decode time per step for each K",
        };
        var command = new Command("generate", "Prefill and decode tokens/s of greedy generation with the KV cache (random weights).") { config, samples };
        command.SetAction(parse =>
        {
            var bench = Load(parse, config);
            if (parse.GetValue(samples) is { } list)
                return SampleCounts(list, bench);
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

    private static int SampleCounts(string list, BenchConfig bench)
    {
        var counts = new List<int>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int k) || k < 1)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]--samples: '{part}' is not a sample count (a positive integer).[/]");
                return 2;
            }
            counts.Add(k);
        }
        AnsiConsole.WriteLine($"bench generate --samples: 1 prompt x {bench.PromptTokens} tokens ({bench.TilesPerSample} tile), K samples as one request, " +
            $"{bench.ChosenTokens} new tokens, temperature 0.7, top-k 50, float32, cpu, {bench.Threads} threads");
        var results = GenerationBenchmark.RunSamples(bench, counts);
        var table = new Table().AddColumns("K", "time to first token", $"vs K = {results[0].Samples}", "decode per step (all K rows)", "decode tokens/s");
        foreach (var r in results)
            table.AddRow($"{r.Samples}", $"{r.FirstTokenSeconds * 1000:F1} ms", $"{r.FirstTokenSeconds / results[0].FirstTokenSeconds:F2}x",
                $"{r.DecodeStepSeconds * 1000:F2} ms", $"{r.Samples / r.DecodeStepSeconds:F0}");
        AnsiConsole.Write(table);
        return 0;
    }

    private static Command Train()
    {
        var config = ConfigOption();
        var variant = new Option<string?>("--variant") { Description = "run one variant in this process and print it as JSON (used by the parent run)" };
        var command = new Command("train", "Seconds per MPO step, tokens/s, peak RSS and fraction of the GEMM roof for four variants " +
            "(plain, shared image encoding, precomputed reference, both), each in its own process so peak memory is its own.") { config, variant };
        command.SetAction(parse =>
        {
            var bench = Load(parse, config);
            if (parse.GetValue(variant) is { } one)
            {
                var r = TrainStepBenchmark.Run(bench, Enum.Parse<TrainStepVariant>(one, ignoreCase: true));
                MpoChildProcess.PrintResult(r);
                return 0;
            }
            AnsiConsole.WriteLine($"bench train: {bench.Pairs} pairs, {bench.Sequences} x {bench.SequenceLength} tokens, MPO loss, AdamW over every parameter, float32, cpu, {bench.Threads} threads");
            double gemm = GemmRoof.MeasureGflops();
            AnsiConsole.WriteLine($"GEMM 2048^3 fp32: {gemm:F1} GFLOP/s; a step holds {bench.MatmulGflopPerStep} GFLOP of matrix work (policy forward, 2x backward, reference forward)");
            var results = new List<TrainStepResult>();
            foreach (var v in Enum.GetValues<TrainStepVariant>())
                results.Add(MpoChildProcess.Run<TrainStepResult>($"variant {v}", [.. MpoChildProcess.OwnArguments(), "--variant", v.ToString()]));
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

    /// <summary>
    /// Runs this same command again in a child process with <paramref name="extra"/> arguments and returns the JSON of
    /// the "RESULT " line it prints: each measured configuration gets a process, so its peak memory is its own.
    /// </summary>
    private static string RunChild(params string[] extra)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        foreach (var a in Environment.GetCommandLineArgs().Skip(1).Where(a => !a.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)))
            psi.ArgumentList.Add(a);
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
            psi.ArgumentList.Insert(0, typeof(Program).Assembly.Location);
        foreach (var a in extra)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"'{string.Join(' ', extra)}' printed no result (exit code {p.ExitCode}):\n{output}");
        return line["RESULT ".Length..];
    }

    private static Command Data()
    {
        var folder = new Option<string>("--folder") { Description = "where the set is generated (reused when it was made with the same sizes)", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "mpo-bench-data") };
        var lines = new Option<int>("--lines") { Description = "jsonl lines (pairs)", DefaultValueFactory = _ => 1_000_000 };
        var images = new Option<int>("--images") { Description = "distinct image files the lines share", DefaultValueFactory = _ => 3000 };
        var minSize = new Option<int>("--min-size") { Description = "smallest image side in pixels", DefaultValueFactory = _ => 448 };
        var maxSize = new Option<int>("--max-size") { Description = "largest image side in pixels", DefaultValueFactory = _ => 1500 };
        var pngShare = new Option<double>("--png-share") { Description = "share of PNG (chart-like) images; the rest are JPEG (photo-like)", DefaultValueFactory = _ => 0.25 };
        var imageSize = new Option<int>("--image-size") { Description = "the tiny model's tile size (the quickstart's: 56; InternVL's: 448)", DefaultValueFactory = _ => 56 };
        var maxPatches = new Option<int>("--max-patches") { Description = "the tiny model's max_dynamic_patch (the quickstart's: 1; InternVL MPO: 6)", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch") { Description = "pairs per micro-batch", DefaultValueFactory = _ => 8 };
        var loaderBatches = new Option<int>("--loader-batches") { Description = "micro-batches the loader-only run takes", DefaultValueFactory = _ => 40 };
        var steps = new Option<int>("--steps") { Description = "training steps of each training run", DefaultValueFactory = _ => 12 };
        var workers = new Option<string>("--workers") { Description = "data-loader worker counts to compare", DefaultValueFactory = _ => "0,1,2" };
        var child = new Option<string?>("--child") { Description = "run one measurement in this process and print it as JSON (used by the parent run)" };
        var command = new Command("data", "The streamed training input on a generated MMPR-shaped set: time to the first training step, rows/s the " +
            "loader delivers, the input side's peak memory, and the trainer's wait on data, for several worker counts.")
            { folder, lines, images, minSize, maxSize, pngShare, imageSize, maxPatches, batch, loaderBatches, steps, workers, child };
        command.SetAction(parse =>
        {
            var spec = new MmprBenchSetSpec(parse.GetValue(lines), parse.GetValue(images), parse.GetValue(minSize), parse.GetValue(maxSize),
                parse.GetValue(pngShare), parse.GetValue(imageSize), parse.GetValue(maxPatches), Seed: 0);
            if (spec.Lines < 1 || spec.Images < 1 || spec.MinSize < 16 || spec.MaxSize < spec.MinSize || spec.PngShare is < 0 or > 1)
                throw new ArgumentException("--lines and --images must be at least 1, --min-size at least 16 and at most --max-size, --png-share in [0, 1].");
            var meta = Path.Combine(parse.GetValue(folder)!, MmprBenchSet.MetaFile);
            if (parse.GetValue(child) is { } one)
            {
                var (kind, count) = (one.Split(':')[0], int.Parse(one.Split(':')[1], CultureInfo.InvariantCulture));
                object result = kind == "loader"
                    ? DataBenchmark.RunLoader(meta, count, parse.GetValue(batch), parse.GetValue(loaderBatches), spec.Seed)
                    : DataBenchmark.RunTraining(meta, count, parse.GetValue(batch), parse.GetValue(steps), spec.Seed);
                Console.WriteLine("RESULT " + JsonSerializer.Serialize(result, result.GetType()));
                return 0;
            }
            AnsiConsole.WriteLine($"bench data: {spec.Lines:N0} lines over {spec.Images} images of {spec.MinSize}-{spec.MaxSize} px ({spec.PngShare:P0} PNG), " +
                $"tiles of {spec.ImageSize} px up to {spec.MaxDynamicPatch} per image, batch {parse.GetValue(batch)}, {Environment.ProcessorCount} cores");
            MmprBenchSet.Ensure(parse.GetValue(folder)!, spec, s => AnsiConsole.WriteLine("  " + s));
            var counts = parse.GetValue(workers)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(w => int.Parse(w, CultureInfo.InvariantCulture)).ToList();
            var table = new Table().AddColumns("workers", "index (s)", "rows/s delivered", "input-side peak RSS", "first step after Fit", "median step", "trainer's wait on data", "training peak RSS");
            double Gib(long bytes) => bytes / (1024.0 * 1024 * 1024);
            foreach (var w in counts)
            {
                var l = JsonSerializer.Deserialize<DataLoaderResult>(RunChild("--child", $"loader:{w}"))!;
                var t = JsonSerializer.Deserialize<DataTrainResult>(RunChild("--child", $"train:{w}"))!;
                table.AddRow($"{w}", $"{l.IndexSeconds:F1}", $"{l.RowsPerSecond:F1}",
                    $"{Gib(l.PeakRssBytes - l.BaselineRssBytes):F2} GiB (process {Gib(l.PeakRssBytes):F2}, managed {Gib(l.PeakManagedBytes):F2})",
                    $"{t.FirstStepSeconds:F1} s (model {t.ModelLoadedSeconds:F1}, input {t.InputReadySeconds:F1})", $"{t.MedianStepSeconds:F2} s", $"{t.WaitFraction:P1}", $"{Gib(t.PeakRssBytes):F2} GiB");
                AnsiConsole.WriteLine($"  {w} worker(s): {l.RowsPerSecond:F1} rows/s delivered, first step {t.FirstStepSeconds:F1} s after Fit, wait {t.WaitFraction:P1} of step time");
            }
            AnsiConsole.Write(table);
            AnsiConsole.WriteLine("Targets: first step within 10 s of Fit; input side under 1 GiB; with workers the trainer waits on data for under 5% of its step time.");
            AnsiConsole.WriteLine("Input-side peak RSS: the loader-only process's peak above its RSS once the runtime and the tiny model are loaded (index, queue, workers' buffers).");
            return 0;
        });
        return command;
    }
}
