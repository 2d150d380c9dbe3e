using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using OxyPlot.SkiaSharp;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>Draws training curves to a PNG with OxyPlot (SkiaSharp renderer, coexisting with ImageAnalytics).</summary>
internal static class MetricsPlot
{
    /// <summary>
    /// One panel per metric name in <paramref name="panels"/> (missing ones skipped), step on the x axis,
    /// train and eval_ series together; written to <paramref name="path"/> as a PNG.
    /// </summary>
    public static void Write(string path, IReadOnlyList<TrainingMetrics> history, IReadOnlyList<string> panels, string title)
    {
        var present = panels.Where(p => history.Any(m => m.Values.ContainsKey(p) || m.Values.ContainsKey("eval_" + p))).ToList();
        if (present.Count == 0)
            return;
        const int panelWidth = 520, panelHeight = 340;
        int columns = Math.Min(3, present.Count);
        WriteGrid(path, present.Select(p => Panel(p, history)).ToList(), columns, panelWidth, panelHeight, title);
    }

    /// <summary>
    /// Lays <paramref name="panels"/> out in a grid of <paramref name="columns"/> (each drawn by OxyPlot at the given
    /// size), with an optional title line, and writes the PNG.
    /// </summary>
    public static void WriteGrid(string path, IReadOnlyList<PlotModel> panels, int columns, int panelWidth, int panelHeight, string? title = null)
    {
        int rows = (panels.Count + columns - 1) / columns;
        int top = title is null ? 0 : 40;
        using var surface = SkiaSharp.SKSurface.Create(new SkiaSharp.SKImageInfo(columns * panelWidth, rows * panelHeight + top));
        var canvas = surface.Canvas;
        canvas.Clear(SkiaSharp.SKColors.White);
        if (title is not null)
        {
            using var titlePaint = new SkiaSharp.SKPaint { Color = SkiaSharp.SKColors.Black, IsAntialias = true };
            using var titleFont = new SkiaSharp.SKFont(SkiaSharp.SKTypeface.Default, 22);
            canvas.DrawText(title, 12, 28, SkiaSharp.SKTextAlign.Left, titleFont, titlePaint);
        }
        for (int i = 0; i < panels.Count; i++)
        {
            using var stream = new MemoryStream();
            new PngExporter { Width = panelWidth, Height = panelHeight }.Export(panels[i], stream);
            using var panel = SkiaSharp.SKBitmap.Decode(stream.ToArray());
            canvas.DrawBitmap(panel, (i % columns) * panelWidth, top + (i / columns) * panelHeight);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var file = File.Create(path);
        png.SaveTo(file);
    }

    private static PlotModel Panel(string metric, IReadOnlyList<TrainingMetrics> history)
    {
        var model = new PlotModel { Title = metric, Background = OxyColors.White };
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "step" });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left });
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.TopRight });
        foreach (var (name, label) in new[] { (metric, "train"), ("eval_" + metric, "eval") })
        {
            var series = new LineSeries { Title = label, MarkerType = label == "eval" ? MarkerType.Circle : MarkerType.None };
            foreach (var m in history)
                if (m.Values.TryGetValue(name, out var v) && double.IsFinite(v))
                    series.Points.Add(new DataPoint(m.Step, v));
            if (series.Points.Count > 0)
                model.Series.Add(series);
        }
        return model;
    }
}
