using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Preference.Cli.Benchmarks;
using Microsoft.ML.Preference.Modeling;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary>
/// <c>mpo bench scale</c>: memory and time of real-width InternVL2-1B shapes in bfloat16 (LoRA rank 16, reference =
/// adapters disabled, gradient checkpointing, one pair per step), each point in a child process so that its VmHWM is
/// its own. (a) full depth at 1k tokens per row, loaded from an <c>mpo init</c> folder; (b) a few decoder layers at
/// 1k-8k tokens per row: the RSS per extra layer and per extra token; (c) generation: prefill, decode, KV cache.
/// </summary>
internal static class BenchScaleCommand
{
    private const double GiB = 1024.0 * 1024 * 1024;

    public static IEnumerable<Command> Create()
    {
        var parts = new Option<string>("--parts") { Description = "which parts to run: a (1B full depth, 1k tokens), b (few layers, 1k-8k tokens), c (generation)", DefaultValueFactory = _ => "a,b,c" };
        var layers = new Option<string>("--layers") { Description = "part b: decoder layer counts", DefaultValueFactory = _ => "1,3" };
        var tokens = new Option<string>("--tokens") { Description = "part b: tokens per row", DefaultValueFactory = _ => "1024,2048,4096,8192" };
        var steps = OptionRanges.AtLeast(1, new Option<int>("--steps") { Description = "optimiser steps per training point", DefaultValueFactory = _ => 2 });
        var leakSteps = OptionRanges.AtLeast(0, new Option<int>("--leak-steps") { Description = "part b: steps of the first point, whose RSS from step 2 on must not grow (0: --steps)", DefaultValueFactory = _ => 10 });
        var model = new Option<string?>("--model") { Description = "part a: a folder written by `mpo init --config internvl2-1b` (default: one is written to a temporary folder and deleted)" };
        var newTokens = OptionRanges.AtLeast(2, new Option<int>("--new-tokens") { Description = "part c: tokens generated", DefaultValueFactory = _ => 16 });
        var dtype = new Option<string>("--dtype") { Description = "weights and activations (float32 where the CPU has no fast bfloat16 GEMM: libtorch then falls back to a scalar loop)", DefaultValueFactory = _ => "bfloat16" }
            .AcceptOnlyFromAmong("bfloat16", "float32");
        var command = new Command("scale", "Real-width InternVL2-1B shapes in bf16 (LoRA 16, checkpointing, 1 pair): peak RSS per layer and per token, the full-depth step, generation.")
        {
            parts, layers, tokens, steps, leakSteps, model, newTokens, dtype,
        };
        command.SetAction(parse => CliErrors.Run(() => Run(parse.GetValue(parts)!, Ints(parse.GetValue(layers)!, "--layers"),
            Ints(parse.GetValue(tokens)!, "--tokens"), parse.GetValue(steps), parse.GetValue(leakSteps), parse.GetValue(model), parse.GetValue(newTokens), parse.GetValue(dtype)!)));

        var pPart = new Option<string>("--part") { Required = true };
        var pLayers = new Option<int?>("--layers");
        var pTokens = new Option<int>("--tokens") { Required = true };
        var pSteps = new Option<int>("--steps") { DefaultValueFactory = _ => 2 };
        var pImage = new Option<bool>("--image");
        var pModel = new Option<string?>("--model");
        var pNew = new Option<int>("--new-tokens") { DefaultValueFactory = _ => 16 };
        var pDtype = new Option<string>("--dtype") { DefaultValueFactory = _ => "bfloat16" };
        var point = new Command("scale-point", "One point of bench scale (run by it in a child process).") { pPart, pLayers, pTokens, pSteps, pImage, pModel, pNew, pDtype };
        point.Hidden = true;
        point.SetAction(parse =>
        {
            var part = parse.GetValue(pPart)!;
            var type = parse.GetValue(pDtype) == "float32" ? TorchSharp.torch.ScalarType.Float32 : TorchSharp.torch.ScalarType.BFloat16;
            var result = part == "c"
                ? ScaleBenchmark.Generate(parse.GetValue(pTokens), parse.GetValue(pNew), type)
                : ScaleBenchmark.Train(part, parse.GetValue(pLayers), parse.GetValue(pTokens), parse.GetValue(pSteps), parse.GetValue(pImage), parse.GetValue(pModel), type);
            MpoChildProcess.PrintResult(result);
            return 0;
        });
        return [command, point];
    }

    private static int[] Ints(string list, string option) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
            : throw new ArgumentException($"{option}: '{s}' is not a positive integer.")).ToArray();

    private static void Run(string partList, int[] layers, int[] tokens, int steps, int leakSteps, string? model, int newTokens, string dtype)
    {
        var parts = partList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        if (parts.Count == 0 || parts.Except(["a", "b", "c"]).Any())
            throw new ArgumentException($"--parts: '{partList}' must list a, b and/or c.");
        AnsiConsole.WriteLine($"bench scale: InternVL2-1B width (decoder 896, vocabulary 151,655, InternViT-300M), {dtype}, LoRA rank 16 " +
            $"(reference = adapters disabled), gradient checkpointing, 1 pair per step, {Environment.ProcessorCount} cores; each point in its own process");
        var points = new List<ScalePoint>();
        ScalePoint Child(params string[] args)
        {
            AnsiConsole.WriteLine($"point: mpo bench scale-point {string.Join(' ', args)}");
            var p = MpoChildProcess.Run<ScalePoint>("bench scale-point", ["bench", "scale-point", .. args, "--dtype", dtype]);
            points.Add(p);
            return p;
        }
        if (parts.Contains("b"))
        {
            bool first = true;
            foreach (var t in tokens)
                foreach (var l in layers)
                {
                    int s = first && leakSteps > 0 ? leakSteps : steps;
                    first = false;
                    Child("--part", "b", "--layers", $"{l}", "--tokens", $"{t}", "--steps", $"{s}");
                }
        }
        if (parts.Contains("a"))
        {
            string? temp = null;
            var folder = model;
            if (folder is null)
            {
                temp = Path.Combine(Path.GetTempPath(), $"mpo-bench-scale-{Guid.NewGuid():N}");
                AnsiConsole.WriteLine($"writing InternVL2-1B with random weights to {temp} (mpo init)");
                RandomInternVLFolder.Create(RandomInternVLFolder.ResolveConfig("internvl2-1b"), temp,
                    dtype == "float32" ? TorchSharp.torch.ScalarType.Float32 : TorchSharp.torch.ScalarType.BFloat16);
                folder = temp;
            }
            try
            {
                Child("--part", "a", "--tokens", "1024", "--steps", $"{steps}", "--image", "--model", folder);
            }
            finally
            {
                if (temp is not null)
                    Directory.Delete(temp, recursive: true);
            }
        }
        if (parts.Contains("c"))
            Child("--part", "c", "--tokens", "1024", "--new-tokens", $"{newTokens}");
        Print(points, dtype == "float32" ? 4 : 2);
    }

    private static void Print(List<ScalePoint> points, int bytes)
    {
        var table = new Table().AddColumns("part", "layers", "tokens/row", "image", "params", "peak RSS (steps)", "peak RSS (load)", "RSS loaded", "load", "step (last)", "tokens/s",
            "RSS step 2 -> last", "formula");
        Console.WriteLine("| part | layers | tokens/row | image | params | peak RSS (steps) | peak RSS (load) | RSS loaded | load | step (last) | tokens/s | RSS step 2 -> last | formula |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var p in points)
        {
            string step = p.StepSeconds.Length > 0 ? $"{p.StepSeconds[^1]:F1} s" : $"prefill {p.PrefillSeconds:F1} s, decode {p.DecodeSecondsPerToken * 1000:F0} ms/token";
            string rate = p.StepSeconds.Length > 0 ? $"{2 * p.Tokens / p.StepSeconds[^1]:F0}" : $"KV cache {p.KvCacheBytes / 1048576.0:F1} MiB";
            string growth = p.RssAfterStepBytes.Length >= 2
                ? $"{p.RssAfterStepBytes[1] / GiB:F2} -> {p.RssAfterStepBytes[^1] / GiB:F2} GiB ({(p.RssAfterStepBytes[^1] - p.RssAfterStepBytes[1]) / 1048576.0:+0;-0} MiB over {p.RssAfterStepBytes.Length - 2} steps)"
                : "";
            string formula = p.Part == "c" ? "" : $"{Formula(p.Layers, p.Tokens, p.Image, bytes) / GiB:F2} GiB";
            // The same row as markdown, whole at any console width (a redirected console is 80 columns wide).
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {p.Part} | {p.Layers} | {p.Tokens} | {(p.Image ? "1 tile" : "-")} | {p.Parameters / 1e9:F3}B | " +
                $"{p.PeakRssBytes / GiB:F2} GiB | {p.LoadPeakRssBytes / GiB:F2} GiB | {p.RssBeforeStepsBytes / GiB:F2} GiB | {p.LoadSeconds:F1} s | {step} | {rate} | {growth} | {formula} |"));
            table.AddRow(p.Part, $"{p.Layers}", $"{p.Tokens}", p.Image ? "1 tile" : "-", $"{p.Parameters / 1e9:F3}B", $"{p.PeakRssBytes / GiB:F2} GiB",
                $"{p.LoadPeakRssBytes / GiB:F2} GiB", $"{p.RssBeforeStepsBytes / GiB:F2} GiB", $"{p.LoadSeconds:F1} s", step, rate, growth, formula);
        }
        AnsiConsole.Write(table);

        // Slopes from part b: per extra layer at the smallest token count, per extra 1k tokens at the smallest layer count.
        var b = points.Where(p => p.Part == "b").ToList();
        if (b.Count >= 2)
        {
            int t0 = b.Min(p => p.Tokens), l0 = b.Min(p => p.Layers);
            var byLayers = b.Where(p => p.Tokens == t0).OrderBy(p => p.Layers).ToList();
            if (byLayers.Count >= 2)
                AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"peak RSS per extra decoder layer at {t0} tokens/row: {Slope(byLayers, p => p.Layers) / 1048576.0:F1} MiB"));
            foreach (var group in b.GroupBy(p => p.Layers).OrderBy(g => g.Key))
            {
                var byTokens = group.OrderBy(p => p.Tokens).ToList();
                if (byTokens.Count >= 2)
                    AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"peak RSS per extra 1k tokens/row at {group.Key} layer(s): {Slope(byTokens, p => p.Tokens) * 1024 / 1048576.0:F1} MiB " +
                        $"(points: {string.Join(", ", byTokens.Select(p => $"{p.Tokens}: {p.PeakRssBytes / GiB:F2} GiB"))})"));
            }
        }
    }

    /// <summary>Least-squares slope of peak RSS (bytes) against <paramref name="x"/>.</summary>
    private static double Slope(List<ScalePoint> points, Func<ScalePoint, double> x)
    {
        double mx = points.Average(x), my = points.Average(p => (double)p.PeakRssBytes);
        return points.Sum(p => (x(p) - mx) * (p.PeakRssBytes - my)) / points.Sum(p => (x(p) - mx) * (x(p) - mx));
    }

    /// <summary>
    /// docs/incoming/22-real-sizes.md's formula for this shape (bf16 weights and activations, LoRA 16 on the decoder's
    /// 7 projections, R = 2 rows): weights + adapter state + one checkpoint per layer + the recomputed layer + one
    /// log-prob chunk + the vision tower's activations.
    /// </summary>
    internal static double Formula(int layers, int tokens, bool image, int bytes)
    {
        var c = ScaleBenchmark.Shape(layers);
        var l = c.Language;
        double d = l.HiddenSize, inter = l.IntermediateSize, v = l.VocabSize, r = 2, t = tokens, ba = bytes;
        long kv = l.NumKeyValueHeads * (l.HiddenSize / l.NumAttentionHeads);
        double loraPerLayer = 16.0 * ((d + d) + (d + kv) + (d + kv) + (d + d) + 3 * (d + inter));
        double vision = c.Vision.HiddenSize * (double)c.Vision.IntermediateSize * 2 * c.Vision.NumHiddenLayers + 4.0 * c.Vision.HiddenSize * c.Vision.HiddenSize * c.Vision.NumHiddenLayers;
        double projector = 4 * c.Vision.HiddenSize * (4 * c.Vision.HiddenSize + d) + d * d;
        double decoder = l.NumHiddenLayers * (2 * d * d + 2 * d * kv + 3 * d * inter) + 2 * v * d;
        double p = vision + projector + decoder;
        double pt = loraPerLayer * l.NumHiddenLayers;
        double peak = p * bytes + pt * 16 + l.NumHiddenLayers * r * t * d * ba + r * t * (10 * d + 3 * inter) * ba + r * 256 * v * 4 * 3;
        if (image)
            peak += 1025.0 * c.Vision.HiddenSize * (c.Vision.NumHiddenLayers + 10) * ba;
        return peak;
    }
}
