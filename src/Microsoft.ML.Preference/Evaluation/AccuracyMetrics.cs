namespace Microsoft.ML.Preference.Evaluation;

/// <summary>Answer accuracy of one group of rows (a question family, a data set).</summary>
/// <param name="Correct">Rows whose answer matches the ground truth (see <see cref="AnswerJudge"/>).</param>
/// <param name="Total">Rows counted, format failures included.</param>
/// <param name="FormatFailures">Rows with an empty answer (the extractor found none): counted as wrong.</param>
public sealed record GroupAccuracy(long Correct, long Total, long FormatFailures)
{
    /// <summary>Correct / Total (0 when there are no rows).</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;

    /// <summary>FormatFailures / Total (0 when there are no rows).</summary>
    public double FormatFailureRate => Total == 0 ? 0 : (double)FormatFailures / Total;
}

/// <summary>What <see cref="PreferenceEvaluation.EvaluateAccuracy"/> found.</summary>
/// <param name="Correct">Rows whose answer matches the ground truth.</param>
/// <param name="Total">Rows counted, format failures included.</param>
/// <param name="FormatFailures">Rows with an empty answer: counted as wrong.</param>
/// <param name="Groups">The same counts per value of the group column, ordinal order of the names (empty without one).</param>
public sealed record AccuracyMetrics(long Correct, long Total, long FormatFailures, IReadOnlyDictionary<string, GroupAccuracy> Groups)
{
    /// <summary>Correct / Total (0 when there are no rows).</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;

    /// <summary>FormatFailures / Total (0 when there are no rows).</summary>
    public double FormatFailureRate => Total == 0 ? 0 : (double)FormatFailures / Total;
}
