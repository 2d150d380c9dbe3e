using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using Microsoft.ML.Preference.Evaluation;
using Microsoft.ML.Preference.Trainers.Training;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Quickstart;

/// <summary>The quickstart's table (console, and markdown for the ablation) and figure.</summary>
internal static class QuickstartReport
{
    /// <summary>A fraction as a percentage rounded to 0.1 once, so that table, markdown and bar labels agree.</summary>
    internal static double Percent(double fraction) => Math.Round(fraction * 100, 1, MidpointRounding.AwayFromZero);

    public static void Print(IReadOnlyList<ModelScores> scores)
    {
        var table = new Table().Title("Accuracy on the test split (Table 3 of the paper, in miniature)")
            .AddColumns("model", "Direct", "CoT", "CoT - Direct");
        foreach (var s in scores)
            table.AddRow(s.Name, $"{Percent(s.Direct.Accuracy):0.0} %", $"{Percent(s.ChainOfThought.Accuracy):0.0} %", $"{Percent(s.ChainOfThought.Accuracy) - Percent(s.Direct.Accuracy):+0.0;-0.0} pt");
        AnsiConsole.Write(table);
        var families = scores[0].ChainOfThought.Groups.Keys.ToList();
        var perFamily = new Table().Title("Direct / CoT accuracy per task family").AddColumn("model");
        foreach (var f in families)
            perFamily.AddColumn(f);
        static string Cell(AccuracyMetrics metrics, string family) => metrics.Groups.TryGetValue(family, out var g) ? $"{g.Accuracy * 100:0}" : "-";
        foreach (var s in scores)
            perFamily.AddRow([s.Name, .. families.Select(f => $"{Cell(s.Direct, f)} / {Cell(s.ChainOfThought, f)}")]);
        AnsiConsole.Write(perFamily);
    }

    public static string Markdown(IReadOnlyList<ModelScores> scores)
    {
        var lines = new List<string> { "| model | Direct | CoT | Δ (CoT − Direct) |", "|---|---|---|---|" };
        lines.AddRange(scores.Select(s => $"| {s.Name} | {Percent(s.Direct.Accuracy):0.0} % | {Percent(s.ChainOfThought.Accuracy):0.0} % | {Percent(s.ChainOfThought.Accuracy) - Percent(s.Direct.Accuracy):+0.0;-0.0} |"));
        return string.Join("\n", lines) + "\n";
    }

    public static void WritePng(string path, IReadOnlyList<ModelScores> scores, IReadOnlyList<(string Name, IReadOnlyList<TrainingMetrics> History)> runs)
    {
        if (runs.Count == 0)
        {
            // The ablation: bars only, tall enough for one readable pair of bars per model.
            MetricsPlot.WriteGrid(path, [Bars(scores)], columns: 1, panelWidth: 900, panelHeight: Math.Max(420, 80 + 44 * scores.Count));
            return;
        }
        // The base runs thousands of steps and the preference stages a few hundred: each gets its own panel, so the
        // second is not squeezed into the first's left edge. MPO's total loss is mostly its preference terms (about
        // 0.8 × ln 2 at the start), so it would sit far above SFT's on one axis: the second panel compares what all three
        // share, the NLL of the chosen responses, and the third shows what only MPO has, the reward margin (TRL's
        // rewards/margins) that its preference terms drive up.
        // Each run keeps its colour (and the later ones a dash, since MPO and MPO-step can lie on top of each other)
        // in every panel.
        var styles = runs.Select((r, i) => (r.Name, Palette[i % Palette.Length], Dashes[Math.Min(i, Dashes.Length - 1)]))
            .ToDictionary(s => s.Name, s => (s.Item2, s.Item3));
        var preference = runs.Skip(1).ToList();
        var panels = new List<PlotModel>
        {
            Curves("Training loss: the base (50-step mean)", runs.Take(1), "loss", smoothing: 50, styles),
            // Smoothed like the margins: per step, one batch of long chains next to one of bare answers made the
            // three lines a band of spikes in which SFT could not be told from MPO.
            Curves("From the base: NLL of the chosen responses (10-step mean)", preference, "nll_loss", smoothing: 10, styles),
        };
        var withMargins = preference.Where(r => r.History.Any(m => double.IsFinite(m["rewards/margins"]) && m["rewards/margins"] != 0)).ToList();
        if (withMargins.Count > 0)
            panels.Add(Curves("Reward margin, chosen − rejected (10-step mean)", withMargins, "rewards/margins", smoothing: 10, styles));
        panels.Add(Bars(scores));
        MetricsPlot.WriteGrid(path, panels, columns: 2, panelWidth: 640, panelHeight: 420);
    }

    private static readonly OxyColor[] Palette =
        [OxyColor.FromRgb(0x4E, 0x9A, 0x06), OxyColor.FromRgb(0x20, 0x4A, 0x87), OxyColor.FromRgb(0xCE, 0x5C, 0x00), OxyColor.FromRgb(0xA4, 0x00, 0x00)];

    private static readonly LineStyle[] Dashes = [LineStyle.Solid, LineStyle.Solid, LineStyle.Solid, LineStyle.Dash];

    /// <summary>
    /// One line per run of <paramref name="metric"/> against the step, as a running mean over <paramref name="smoothing"/>
    /// steps (batches of 8 make the per-step figures jump).
    /// </summary>
    private static PlotModel Curves(string title, IEnumerable<(string Name, IReadOnlyList<TrainingMetrics> History)> runs, string metric, int smoothing,
        IReadOnlyDictionary<string, (OxyColor Color, LineStyle Dash)> styles)
    {
        var model = new PlotModel { Title = title, Background = OxyColors.White };
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "step" });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = metric });
        model.Legends.Add(new Legend { LegendPlacement = LegendPlacement.Outside, LegendPosition = LegendPosition.TopCenter, LegendOrientation = LegendOrientation.Horizontal });
        var list = runs.ToList();
        if (list.All(r => r.History.Count == 0))
            model.Subtitle = "reused from the output folder: no curve";
        foreach (var (name, history) in list)
        {
            var (color, dash) = styles[name];
            var series = new LineSeries { Title = name, Color = color, LineStyle = dash, StrokeThickness = 1.5 };
            foreach (var point in RunningMean(history, metric, smoothing))
                series.Points.Add(point);
            model.Series.Add(series);
        }
        return model;
    }

    internal static IEnumerable<DataPoint> RunningMean(IReadOnlyList<TrainingMetrics> history, string metric, int window)
    {
        var recent = new Queue<double>();
        double sum = 0;
        foreach (var m in history)
        {
            double value = m[metric];
            if (!double.IsFinite(value))
                continue;
            recent.Enqueue(value);
            sum += value;
            if (recent.Count > window)
                sum -= recent.Dequeue();
            yield return new DataPoint(m.Step, sum / recent.Count);
        }
    }

    private static PlotModel Bars(IReadOnlyList<ModelScores> scores)
    {
        var model = new PlotModel { Title = "Test accuracy: Direct vs CoT", Background = OxyColors.White };
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, ItemsSource = scores.Select(s => s.Name).ToList() });
        // Room to the right of 100 for the labels: a 98.0 bar's label was cut to "9" at the panel's edge.
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, Maximum = 112, MajorStep = 20, Title = "accuracy (%)" });
        model.Legends.Add(new Legend { LegendPlacement = LegendPlacement.Outside, LegendPosition = LegendPosition.TopCenter, LegendOrientation = LegendOrientation.Horizontal });
        var direct = new BarSeries { Title = "Direct", LabelFormatString = "{0:0.0}" };
        var cot = new BarSeries { Title = "CoT", LabelFormatString = "{0:0.0}" };
        foreach (var s in scores)
        {
            direct.Items.Add(new BarItem(Percent(s.Direct.Accuracy)));
            cot.Items.Add(new BarItem(Percent(s.ChainOfThought.Accuracy)));
        }
        model.Series.Add(direct);
        model.Series.Add(cot);
        return model;
    }
}
