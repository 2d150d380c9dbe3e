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
        // second is not squeezed into the first's left edge.
        MetricsPlot.WriteGrid(path, [Curves("Training loss: the base", runs.Take(1)), Curves("Training loss: from the base", runs.Skip(1)), Bars(scores)],
            columns: 3, panelWidth: 560, panelHeight: 420);
    }

    private static PlotModel Curves(string title, IEnumerable<(string Name, IReadOnlyList<TrainingMetrics> History)> runs)
    {
        var model = new PlotModel { Title = title, Background = OxyColors.White };
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "step" });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = "loss" });
        model.Legends.Add(new Legend { LegendPlacement = LegendPlacement.Outside, LegendPosition = LegendPosition.TopCenter, LegendOrientation = LegendOrientation.Horizontal });
        if (runs.All(r => r.History.Count == 0))
            model.Subtitle = "reused from the output folder: no curve";
        foreach (var (name, history) in runs)
        {
            var series = new LineSeries { Title = name };
            foreach (var m in history.Where(m => double.IsFinite(m["loss"])))
                series.Points.Add(new DataPoint(m.Step, m["loss"]));
            model.Series.Add(series);
        }
        return model;
    }

    private static PlotModel Bars(IReadOnlyList<ModelScores> scores)
    {
        var model = new PlotModel { Title = "Test accuracy: Direct vs CoT", Background = OxyColors.White };
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, ItemsSource = scores.Select(s => s.Name).ToList() });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, Maximum = 100, Title = "accuracy (%)" });
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
