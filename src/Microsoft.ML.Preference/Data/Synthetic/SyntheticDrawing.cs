using SkiaSharp;

namespace Microsoft.ML.Preference.Data.Synthetic;

/// <summary>
/// Drawing helpers on a 56×56 logical canvas (scaled to the image size). Digits are seven-segment glyphs made of
/// rectangles, so that images depend on no installed font; anti-aliasing is off, so pixels are exact.
/// </summary>
internal static class SyntheticDrawing
{
    public const float Logical = 56f;

    public static readonly (string Name, SKColor Color)[] Colours =
    [
        ("red", new SKColor(220, 20, 20)), ("blue", new SKColor(20, 60, 230)),
        ("green", new SKColor(0, 170, 0)), ("yellow", new SKColor(240, 200, 0)),
    ];

    public static readonly string[] Shapes = ["circle", "square", "triangle"];

    // Segments a (top), b (top right), c (bottom right), d (bottom), e (bottom left), f (top left), g (middle).
    private static readonly string[] Segments = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"];

    public static byte[] RenderPng(int size, Action<SKCanvas> draw)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            canvas.Scale(size / Logical);
            draw(canvas);
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    public static SKPaint Fill(SKColor colour) => new() { Color = colour, IsAntialias = false, Style = SKPaintStyle.Fill };

    public static void Digit(SKCanvas canvas, int digit, float x, float y, float width, float height, float thickness, SKColor colour)
    {
        using var paint = Fill(colour);
        float half = height / 2;
        foreach (char s in Segments[digit])
        {
            var rect = s switch
            {
                'a' => SKRect.Create(x, y, width, thickness),
                'b' => SKRect.Create(x + width - thickness, y, thickness, half + thickness / 2),
                'c' => SKRect.Create(x + width - thickness, y + half - thickness / 2, thickness, half + thickness / 2),
                'd' => SKRect.Create(x, y + height - thickness, width, thickness),
                'e' => SKRect.Create(x, y + half - thickness / 2, thickness, half + thickness / 2),
                'f' => SKRect.Create(x, y, thickness, half + thickness / 2),
                _ => SKRect.Create(x, y + half - thickness / 2, width, thickness),
            };
            canvas.DrawRect(rect, paint);
        }
    }

    /// <summary>A shape filling the box (x, y, side, side).</summary>
    public static void Shape(SKCanvas canvas, int shape, float x, float y, float side, SKColor colour)
    {
        using var paint = Fill(colour);
        switch (shape)
        {
            case 0:
                canvas.DrawCircle(x + side / 2, y + side / 2, side / 2, paint);
                break;
            case 1:
                canvas.DrawRect(SKRect.Create(x, y, side, side), paint);
                break;
            default:
                using (var path = new SKPath())
                {
                    path.MoveTo(x + side / 2, y);
                    path.LineTo(x + side, y + side);
                    path.LineTo(x, y + side);
                    path.Close();
                    canvas.DrawPath(path, paint);
                }
                break;
        }
    }
}
