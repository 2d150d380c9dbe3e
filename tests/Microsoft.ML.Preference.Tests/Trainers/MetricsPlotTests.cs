using Microsoft.ML.Preference.Trainers.Training;
using Microsoft.ML.Preference.Tests.Text;
using SkiaSharp;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>
/// The training-curve PNG is decoded and its pixels read: the plotting library must draw the curve where the data
/// puts it, and the title text, beside ImageAnalytics on the same SkiaSharp (a missing native method or a text
/// shaper built for another SkiaSharp shows up here as an exception or an empty panel, not as a missing file).
/// </summary>
public sealed class MetricsPlotTests
{
    private const int PanelWidth = 520, PanelHeight = 340, TitleBand = 40;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheCurveIsDrawnWhereTheDataPutsIt(bool falling)
    {
        var history = Enumerable.Range(1, 100).Select(step =>
        {
            var m = new TrainingMetrics(step, step / 100.0);
            m.Set("loss", falling ? 1 - step / 100.0 : step / 100.0);
            return m;
        }).ToList();
        using var dir = new TempFolder();
        string path = Path.Combine(dir.Path, "curves.png");

        MetricsPlot.Write(path, history, ["loss", "not-recorded"], "A title");

        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal((PanelWidth, PanelHeight + TitleBand), (bitmap.Width, bitmap.Height)); // one panel: the unrecorded metric is skipped
        Assert.True(DarkPixels(bitmap, 0, 0, 200, TitleBand) > 50, "the title was not drawn");

        // The series colour is the only saturated colour in the panel: axes, labels and the frame are grey.
        var curve = new List<(int X, int Y)>();
        for (int y = TitleBand; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                if (Math.Max(c.Red, Math.Max(c.Green, c.Blue)) - Math.Min(c.Red, Math.Min(c.Green, c.Blue)) > 80)
                    curve.Add((x, y));
            }
        Assert.True(curve.Count > 200, $"the curve has {curve.Count} coloured pixels");
        int left = curve.Min(p => p.X), right = curve.Max(p => p.X);
        Assert.True(right - left > PanelWidth / 2, $"the curve spans x {left}..{right} only");
        double Height(Func<int, bool> inBand) => curve.Where(p => inBand(p.X)).Average(p => p.Y);
        double leftY = Height(x => x < left + (right - left) / 10), rightY = Height(x => x > right - (right - left) / 10);
        // Screen y grows downwards: a falling loss starts high (small y) and ends low.
        if (falling)
            Assert.True(leftY < rightY - 100, $"left end at y {leftY:F0}, right end at y {rightY:F0}");
        else
            Assert.True(leftY > rightY + 100, $"left end at y {leftY:F0}, right end at y {rightY:F0}");
    }

    [Fact]
    public void NothingIsWrittenWhenNoPanelHasData()
    {
        using var dir = new TempFolder();
        string path = Path.Combine(dir.Path, "none.png");
        MetricsPlot.Write(path, [new TrainingMetrics(1, 0)], ["loss"], "empty");
        Assert.False(File.Exists(path));
    }

    private static int DarkPixels(SKBitmap bitmap, int x0, int y0, int width, int height)
    {
        int count = 0;
        for (int y = y0; y < y0 + height; y++)
            for (int x = x0; x < x0 + width; x++)
                if (bitmap.GetPixel(x, y) is var c && c.Red < 100 && c.Green < 100 && c.Blue < 100)
                    count++;
        return count;
    }
}
