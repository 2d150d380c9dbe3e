using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Evaluation;

namespace Microsoft.ML.Preference.Tests.Evaluation;

public class AccuracyEvaluationTests
{
    private sealed class Prediction
    {
        public string Answer { get; set; } = "";
        public string AnswerGt { get; set; } = "";
        public string Family { get; set; } = "";
    }

    private static IDataView Data(MLContext ml, params (string Answer, string Truth, string Family)[] rows) =>
        ml.Data.LoadFromEnumerable(rows.Select(r => new Prediction { Answer = r.Answer, AnswerGt = r.Truth, Family = r.Family }).ToList());

    [Fact]
    public void CountsAreExactOverallAndPerGroup()
    {
        var ml = new MLContext(seed: 0);
        var data = Data(ml,
            ("(B)", "B", "count"),      // correct
            ("12.0", "12", "count"),    // correct
            ("13", "12", "count"),      // wrong
            ("", "7", "count"),         // format failure
            ("Yes.", "yes", "spatial"), // correct
            ("No", "yes", "spatial"),   // wrong
            ("  ", "no", "spatial"),    // format failure
            ("3/4", "0.75", "math"));   // correct
        var m = ml.Preference.Evaluation.EvaluateAccuracy(data);
        Assert.Equal((4L, 8L, 2L), (m.Correct, m.Total, m.FormatFailures));
        Assert.Equal(0.5, m.Accuracy);
        Assert.Equal(0.25, m.FormatFailureRate);
        Assert.Equal(["count", "math", "spatial"], m.Groups.Keys);
        Assert.Equal(new GroupAccuracy(2, 4, 1), m.Groups["count"]);
        Assert.Equal(new GroupAccuracy(1, 3, 1), m.Groups["spatial"]);
        Assert.Equal(new GroupAccuracy(1, 1, 0), m.Groups["math"]);
        Assert.Equal(1.0 / 3, m.Groups["spatial"].Accuracy, 12);
    }

    [Fact]
    public void NoGroupColumnGivesNoGroupsAndMissingColumnsAreNamed()
    {
        var ml = new MLContext(seed: 0);
        var data = Data(ml, ("A", "A", "x"), ("B", "A", "x"));
        var m = ml.Preference.Evaluation.EvaluateAccuracy(data, groupColumn: null);
        Assert.Equal((1L, 2L, 0L), (m.Correct, m.Total, m.FormatFailures));
        Assert.Empty(m.Groups);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Preference.Evaluation.EvaluateAccuracy(data, groupColumn: "Task"));
        Assert.Contains("'Task'", e.Message);
        Assert.Contains("groupColumn: null", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Preference.Evaluation.EvaluateAccuracy(data, answerColumn: PreferenceColumnNames.Response));
        Assert.Contains("'Response'", e.Message);
    }

    [Fact]
    public void EmptyDataGivesZeros()
    {
        var ml = new MLContext(seed: 0);
        var m = ml.Preference.Evaluation.EvaluateAccuracy(Data(ml));
        Assert.Equal((0L, 0L, 0.0), (m.Total, m.Correct, m.Accuracy));
    }
}
