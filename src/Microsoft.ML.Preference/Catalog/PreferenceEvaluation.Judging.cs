using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Evaluation;

namespace Microsoft.ML.Preference;

public sealed partial class PreferenceEvaluation
{
    /// <summary>
    /// Answer accuracy of <paramref name="predictions"/>: each row's answer (already extracted, e.g. by
    /// <see cref="Generation.AnswerExtractor"/>) is judged against its ground truth by <see cref="AnswerJudge"/>.
    /// An empty answer is a format failure, counted in the total and as wrong. With a group column, the same counts are
    /// given per group (per question family).
    /// </summary>
    /// <param name="predictions">Rows with the answer, the ground truth and, optionally, the group.</param>
    /// <param name="answerColumn">Text column of extracted answers (empty = format failure).</param>
    /// <param name="groundTruthColumn">Text column of ground-truth answers.</param>
    /// <param name="groupColumn">Text column to group by; null for no groups. A named column must exist.</param>
    public AccuracyMetrics EvaluateAccuracy(IDataView predictions, string answerColumn = PreferenceColumnNames.Answer, string groundTruthColumn = PreferenceColumnNames.AnswerGt,
        string? groupColumn = PreferenceColumnNames.Family)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        var schema = predictions.Schema;
        DataViewSchema.Column Text(string name, string role)
        {
            var column = schema.GetColumnOrNull(name)
                ?? throw new ArgumentOutOfRangeException(nameof(predictions),
                    $"The {role} column '{name}' is missing{(role == "group" ? " (pass groupColumn: null for no groups)" : "")}. " +
                    $"Columns present: {string.Join(", ", schema.Select(c => $"{c.Name} ({c.Type})"))}.");
            if (column.Type is not TextDataViewType)
                throw new ArgumentOutOfRangeException(nameof(predictions), $"The {role} column '{name}' is {column.Type}, not text.");
            return column;
        }
        var answer = Text(answerColumn, "answer");
        var truth = Text(groundTruthColumn, "ground-truth");
        DataViewSchema.Column? group = groupColumn is null ? null : Text(groupColumn, "group");

        var needed = new List<DataViewSchema.Column> { answer, truth };
        if (group is not null)
            needed.Add(group.Value);
        long correct = 0, total = 0, failures = 0;
        var groups = new SortedDictionary<string, (long Correct, long Total, long Failures)>(StringComparer.Ordinal);
        using var cursor = predictions.GetRowCursor(needed);
        var getAnswer = cursor.GetGetter<ReadOnlyMemory<char>>(answer);
        var getTruth = cursor.GetGetter<ReadOnlyMemory<char>>(truth);
        var getGroup = group is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(group.Value);
        ReadOnlyMemory<char> a = default, t = default, g = default;
        while (cursor.MoveNext())
        {
            getAnswer(ref a);
            getTruth(ref t);
            var predicted = a.ToString();
            bool failed = string.IsNullOrWhiteSpace(predicted);
            bool ok = !failed && AnswerJudge.IsCorrect(predicted, t.ToString());
            total++;
            if (ok)
                correct++;
            if (failed)
                failures++;
            if (getGroup is not null)
            {
                getGroup(ref g);
                var key = g.ToString();
                groups.TryGetValue(key, out var counts);
                groups[key] = (counts.Correct + (ok ? 1 : 0), counts.Total + 1, counts.Failures + (failed ? 1 : 0));
            }
        }
        var byGroup = new SortedDictionary<string, GroupAccuracy>(StringComparer.Ordinal);
        foreach (var (key, counts) in groups)
            byGroup[key] = new GroupAccuracy(counts.Correct, counts.Total, counts.Failures);
        return new AccuracyMetrics(correct, total, failures, byGroup);
    }
}
