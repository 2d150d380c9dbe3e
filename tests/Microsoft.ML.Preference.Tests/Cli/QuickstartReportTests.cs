using Microsoft.ML.Preference.Cli.Quickstart;
using Microsoft.ML.Preference.Evaluation;
using Microsoft.ML.Preference.Trainers.Training;
using SkiaSharp;

namespace Microsoft.ML.Preference.Tests.Cli;

public class QuickstartReportTests
{
    private static List<TrainingMetrics> History(string metric, params double[] values)
    {
        var history = new List<TrainingMetrics>();
        for (int i = 0; i < values.Length; i++)
        {
            var m = new TrainingMetrics(i + 1, i / 10.0);
            m.Set(metric, values[i]);
            history.Add(m);
        }
        return history;
    }

    [Fact]
    public void RunningMeanAveragesTheLastWindowOfFiniteValues()
    {
        var points = QuickstartReport.RunningMean(History("x", 1, 2, 3, double.NaN, 7), "x", window: 2).ToList();
        // The NaN step is skipped, not averaged in: step 5's window is steps 3 and 5.
        Assert.Equal([1.0, 2, 3, 5], points.Select(p => p.X));
        Assert.Equal([1.0, 1.5, 2.5, 5.0], points.Select(p => p.Y));
        Assert.Empty(QuickstartReport.RunningMean(History("x", 1, 2), "other", window: 3));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheFigureIsTwoByTwoWithTheMarginPanelOnlyWhenARunHasMargins(bool withMargins)
    {
        var accuracy = new AccuracyMetrics(3, 4, 0, new Dictionary<string, GroupAccuracy>());
        var scores = new List<ModelScores> { new("base", accuracy, accuracy), new("MPO", accuracy, accuracy) };
        var mpo = History("nll_loss", 0.3, 0.2, 0.1);
        foreach (var m in mpo)
            m.Set("rewards/margins", withMargins ? m.Step * 0.1 : 0);
        var path = Path.Combine(Path.GetTempPath(), $"quickstart-report-{Guid.NewGuid():N}.png");
        try
        {
            QuickstartReport.WritePng(path, scores, [("base", History("loss", 2, 1)), ("SFT", History("nll_loss", 0.3, 0.2)), ("MPO", mpo)]);
            using var bitmap = SKBitmap.Decode(path);
            // Base loss, chosen NLL, (margins,) bars: two columns, two rows either way.
            Assert.Equal((1280, 840), (bitmap.Width, bitmap.Height));
            // The fourth cell (bottom right) holds the bars when there are margins, and is blank without them.
            int inked = 0;
            for (int x = 640; x < 1280; x += 4)
                for (int y = 420; y < 840; y += 4)
                    inked += bitmap.GetPixel(x, y) != SKColors.White ? 1 : 0;
            Assert.Equal(withMargins, inked > 100);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
