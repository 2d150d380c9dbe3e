using System.Text;
using System.Text.Json;
using Microsoft.ML.Preference.Modeling;
using SkiaSharp;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>What <see cref="MmprBenchSet"/> generates: kept beside the set, so an identical request reuses it.</summary>
internal sealed record MmprBenchSetSpec(int Lines, int Images, int MinSize, int MaxSize, double PngShare, int ImageSize, int MaxDynamicPatch, int Seed);

/// <summary>
/// An MMPR-shaped data set for the data benchmark: <c>meta.json</c>, one annotation file of <see cref="MmprBenchSetSpec.Lines"/>
/// lines (question, a chain-of-thought chosen and rejected response of a few hundred characters, answer_gt) over
/// <see cref="MmprBenchSetSpec.Images"/> images of random sizes between the bounds (JPEG photos-like and PNG
/// chart-like, as MMPR mixes them), and a tiny InternVL model (the quickstart's size) whose tokenizer is trained on
/// the set's text.
/// </summary>
internal static class MmprBenchSet
{
    public const string MetaFile = "meta.json";
    public const string ModelFolder = "tiny-internvl";
    private const string SpecFile = "bench-set.json";

    private static readonly string[] Subjects = ["bar", "line", "circle", "triangle", "table", "region", "angle", "segment", "column", "label"];
    private static readonly string[] Verbs = ["measures", "shows", "holds", "reaches", "covers", "marks", "spans", "gives"];

    /// <summary>The set in <paramref name="folder"/>, generated unless a set of the same spec is already there.</summary>
    public static string Ensure(string folder, MmprBenchSetSpec spec, Action<string> log)
    {
        var specPath = Path.Combine(folder, SpecFile);
        if (File.Exists(specPath) && JsonSerializer.Deserialize<MmprBenchSetSpec>(File.ReadAllText(specPath)) == spec)
        {
            log($"reusing the set in {folder}");
            return Path.Combine(folder, MetaFile);
        }
        if (Directory.Exists(folder))
            Directory.Delete(folder, recursive: true);
        Directory.CreateDirectory(Path.Combine(folder, "images"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var names = WriteImages(Path.Combine(folder, "images"), spec);
        log($"{spec.Images} images in {clock.Elapsed.TotalSeconds:F0} s ({DirectorySize(Path.Combine(folder, "images")) / 1e6:F0} MB)");
        clock.Restart();
        WriteAnnotations(Path.Combine(folder, "pairs.jsonl"), names, spec);
        log($"{spec.Lines:N0} lines in {clock.Elapsed.TotalSeconds:F0} s ({new FileInfo(Path.Combine(folder, "pairs.jsonl")).Length / 1e6:F0} MB)");
        File.WriteAllText(Path.Combine(folder, MetaFile),
            "{\"bench\": {\"root\": \"images\", \"annotation\": \"pairs.jsonl\", \"repeat_time\": 1, \"length\": " + spec.Lines + "}}");
        var random = new Random(spec.Seed);
        var corpus = Enumerable.Range(0, 2000).SelectMany(_ => Texts(random));
        TinyInternVLFactory.Create(Path.Combine(folder, ModelFolder), corpus, new TinyInternVLOptions
        {
            Hidden = 96, Layers = 3, Heads = 4, Merges = 1000, VisionHidden = 64, VisionLayers = 2,
            ImageSize = spec.ImageSize, MaxDynamicPatch = spec.MaxDynamicPatch, Seed = spec.Seed,
        });
        File.WriteAllText(specPath, JsonSerializer.Serialize(spec));
        return Path.Combine(folder, MetaFile);
    }

    private static long DirectorySize(string folder) => Directory.EnumerateFiles(folder).Sum(f => new FileInfo(f).Length);

    private static string[] WriteImages(string folder, MmprBenchSetSpec spec)
    {
        var names = new string[spec.Images];
        Parallel.For(0, spec.Images, i =>
        {
            var random = new Random(spec.Seed * 7919 + i);
            int width = random.Next(spec.MinSize, spec.MaxSize + 1), height = random.Next(spec.MinSize, spec.MaxSize + 1);
            bool png = random.NextDouble() < spec.PngShare;
            names[i] = $"img-{i:D5}.{(png ? "png" : "jpg")}";
            using var bitmap = new SKBitmap(width, height);
            using (var canvas = new SKCanvas(bitmap))
                (png ? (Action<SKCanvas, int, int, Random>)DrawChart : DrawPhoto)(canvas, width, height, random);
            using var data = bitmap.Encode(png ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, png ? 100 : 85);
            File.WriteAllBytes(Path.Combine(folder, names[i]), data.ToArray());
        });
        return names;
    }

    /// <summary>Smooth gradients, shapes and grain: compresses like a photograph, not like a flat test card.</summary>
    private static void DrawPhoto(SKCanvas canvas, int width, int height, Random random)
    {
        SKColor Colour() => new((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
        using (var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(width, height), [Colour(), Colour(), Colour()], SKShaderTileMode.Clamp))
        using (var paint = new SKPaint { Shader = shader })
            canvas.DrawRect(0, 0, width, height, paint);
        using var shape = new SKPaint { IsAntialias = true };
        for (int k = 0; k < 40; k++)
        {
            shape.Color = Colour().WithAlpha((byte)random.Next(60, 200));
            canvas.DrawCircle(random.Next(width), random.Next(height), random.Next(10, Math.Max(11, width / 6)), shape);
        }
        using var grain = new SKPaint();
        for (int k = 0; k < width * height / 40; k++)
        {
            grain.Color = new SKColor(0, 0, 0, (byte)random.Next(10, 50));
            canvas.DrawPoint(random.Next(width), random.Next(height), grain);
        }
    }

    /// <summary>A white chart with axes, bars and labels: what MMPR's chart and document sets look like.</summary>
    private static void DrawChart(SKCanvas canvas, int width, int height, Random random)
    {
        canvas.Clear(SKColors.White);
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 3, IsAntialias = true };
        canvas.DrawLine(width * 0.1f, height * 0.9f, width * 0.95f, height * 0.9f, axis);
        canvas.DrawLine(width * 0.1f, height * 0.9f, width * 0.1f, height * 0.05f, axis);
        int bars = random.Next(4, 12);
        using var bar = new SKPaint { IsAntialias = true };
        using var font = new SKFont { Size = Math.Max(10, height / 40f) };
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        for (int b = 0; b < bars; b++)
        {
            bar.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
            float x = width * (0.12f + 0.8f * b / bars), w = width * 0.6f / bars, top = height * (0.1f + 0.75f * (float)random.NextDouble());
            canvas.DrawRect(x, top, w, height * 0.9f - top, bar);
            canvas.DrawText($"{random.Next(100)}", x, top - 4, font, text);
        }
    }

    private static IEnumerable<string> Texts(Random random)
    {
        string Sentence() => $"The {Subjects[random.Next(Subjects.Length)]} {Verbs[random.Next(Verbs.Length)]} {random.Next(1000)} units";
        string Chain(int sentences) => string.Join(". ", Enumerable.Range(0, sentences).Select(_ => Sentence())) + ".";
        int answer = random.Next(100);
        yield return $"<image>\nHow many units does the {Subjects[random.Next(Subjects.Length)]} show? Answer with reasoning.";
        yield return $"{Chain(random.Next(4, 9))}\nFinal answer: {answer}";
        yield return $"{Chain(random.Next(4, 9))}\nFinal answer: {answer + 1 + random.Next(9)}";
    }

    private static void WriteAnnotations(string path, string[] images, MmprBenchSetSpec spec)
    {
        var random = new Random(spec.Seed);
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        var line = new StringBuilder();
        for (int i = 0; i < spec.Lines; i++)
        {
            var texts = Texts(random).ToArray();
            line.Clear();
            line.Append("{\"image\": ").Append(JsonSerializer.Serialize(images[random.Next(images.Length)]))
                .Append(", \"question\": ").Append(JsonSerializer.Serialize(texts[0]))
                .Append(", \"chosen\": ").Append(JsonSerializer.Serialize(texts[1]))
                .Append(", \"rejected\": ").Append(JsonSerializer.Serialize(texts[2]))
                .Append(", \"answer_gt\": \"").Append(texts[1][(texts[1].LastIndexOf(' ') + 1)..]).Append("\"}");
            writer.WriteLine(line);
        }
    }
}
