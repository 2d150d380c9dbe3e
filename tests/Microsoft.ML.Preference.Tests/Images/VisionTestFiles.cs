using System.Text.Json;
using Microsoft.ML.Preference.Images;
using SkiaSharp;

namespace Microsoft.ML.Preference.Tests.Images;

/// <summary>The vision fixtures (TestData/tiling, TestData/vision) and small image makers.</summary>
internal static class VisionTestFiles
{
    public static string TilingFolder => Path.Combine(AppContext.BaseDirectory, "TestData", "tiling");

    public static string VisionFolder => Path.Combine(AppContext.BaseDirectory, "TestData", "vision");

    private static readonly Lazy<JsonDocument> TilingDoc = new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TilingFolder, "cases.json"))));

    private static readonly Lazy<JsonDocument> PilDoc = new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(VisionFolder, "pil_reference.json"))));

    public static JsonElement TilingRoot => TilingDoc.Value.RootElement;

    public static JsonElement PilRoot => PilDoc.Value.RootElement;

    public static int TilingCaseCount => TilingRoot.GetProperty("cases").GetArrayLength();

    public static JsonElement TilingCase(int index) => TilingRoot.GetProperty("cases")[index];

    /// <summary>A source image of pil_reference.json.</summary>
    public static RgbImage PilSource(string name)
    {
        var s = PilRoot.GetProperty("sources").GetProperty(name);
        return new RgbImage(s.GetProperty("width").GetInt32(), s.GetProperty("height").GetInt32(), Convert.FromBase64String(s.GetProperty("rgb").GetString()!));
    }

    public static byte[] Bytes(JsonElement e, string property) => Convert.FromBase64String(e.GetProperty(property).GetString()!);

    /// <summary>The (min, max) → set iteration order lines of cpython_set_order.txt.</summary>
    public static IEnumerable<(int Min, int Max, (int, int)[] Order)> CPythonSetOrders()
    {
        foreach (var line in File.ReadLines(Path.Combine(VisionFolder, "cpython_set_order.txt")))
        {
            if (line.StartsWith('#') || line.Length == 0)
                continue;
            var halves = line.Split(" | ");
            var range = halves[0].Split(' ');
            var order = halves[1].Split(' ').Select(p => p.Split(',')).Select(p => (int.Parse(p[0]), int.Parse(p[1]))).ToArray();
            yield return (int.Parse(range[0]), int.Parse(range[1]), order);
        }
    }

    /// <summary>A deterministic test picture: gradients, a checkerboard corner and a diagonal stripe, fully opaque.</summary>
    public static SKBitmap Picture(int width, int height)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                byte r = (byte)(x * 255 / Math.Max(1, width - 1));
                byte g = (byte)(y * 255 / Math.Max(1, height - 1));
                byte b = (byte)(((x / 8 + y / 8) % 2 == 0 && x < width / 3) ? 255 : (Math.Abs(x - y) < 6 ? 0 : 128));
                bitmap.SetPixel(x, y, new SKColor(r, g, b, 255));
            }
        return bitmap;
    }

    /// <summary>Writes <paramref name="bitmap"/> encoded as <paramref name="format"/> to <paramref name="path"/>.</summary>
    public static string Save(SKBitmap bitmap, string path, SKEncodedImageFormat format, int quality = 95)
    {
        using var data = bitmap.Encode(format, quality) ?? throw new InvalidOperationException($"SkiaSharp cannot encode {format}.");
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    /// <summary>
    /// The normalised value a tile sample must have, written out as torchvision computes it: float32 division by
    /// 255, minus the float32 mean, over the float32 std.
    /// </summary>
    public static float Expected(byte value, int channel)
    {
        float[] mean = [0.485f, 0.456f, 0.406f];
        float[] std = [0.229f, 0.224f, 0.225f];
        float scaled = value / 255f;
        float centred = scaled - mean[channel];
        return centred / std[channel];
    }
}
