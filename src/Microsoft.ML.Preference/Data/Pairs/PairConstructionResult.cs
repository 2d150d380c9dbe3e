using System.Text.Json.Nodes;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>Counts of a pair-construction run (over the whole output file, earlier runs' rows included).</summary>
/// <param name="Questions">Source rows finished.</param>
/// <param name="AllCorrect">Rows whose samples were all correct (no pair possible).</param>
/// <param name="AllWrong">Rows whose samples were all wrong or unparsable (no pair possible).</param>
/// <param name="Pairs">Pairs written.</param>
/// <param name="FormatFailures">Samples without a readable "Final answer:" line (kept as extra negatives).</param>
/// <param name="SkippedAsSubstring">Pairs dropped because the chosen response is contained in the rejected one.</param>
/// <param name="Identical">DropoutNTP rows whose continuation reproduced the original (no pair).</param>
public sealed record PairConstructionStatistics(int Questions, int AllCorrect, int AllWrong, int Pairs, int FormatFailures, int SkippedAsSubstring, int Identical)
{
    internal static PairConstructionStatistics FromMarkers(IReadOnlyList<JsonObject> markers)
    {
        int Sum(string name) => markers.Sum(m => m[name]?.GetValue<int>() ?? 0);
        return new PairConstructionStatistics(markers.Count, Sum("all_correct"), Sum("all_wrong"), Sum("pairs"), Sum("format_failures"),
            Sum("skipped_substring"), Sum("identical"));
    }

    /// <summary>
    /// The counts in a line. Skipped pairs belong to the correctness pipeline and identical continuations to DropoutNTP,
    /// so each is named only when there are some: "0 identical continuations" under a correctness run read as if that
    /// pipeline had continued something.
    /// </summary>
    public override string ToString() =>
        $"{Questions} questions: {Pairs} pairs, {AllCorrect} all correct, {AllWrong} all wrong, {FormatFailures} format failures" +
        (SkippedAsSubstring > 0 ? $", {SkippedAsSubstring} pairs skipped (chosen within rejected)" : "") +
        (Identical > 0 ? $", {Identical} identical continuations" : "");
}

/// <summary>What a pair pipeline produced: the pairs, the format-failure negatives and the statistics.</summary>
/// <param name="Pairs">Columns Image (paths), Prompt, Chosen, Rejected, AnswerGt.</param>
/// <param name="FormatFailures">Columns Image, Prompt, Response, AnswerGt: responses whose answer could not be read.</param>
/// <param name="Statistics">Counts over the whole output file.</param>
/// <param name="OutputPath">The jsonl the run appended to (rerun with the same path to resume).</param>
/// <param name="Quality">The pair-quality statistics of the file (also written beside it as <c>&lt;file&gt;.stats.json</c>).</param>
public sealed record PairConstructionResult(IDataView Pairs, IDataView FormatFailures, PairConstructionStatistics Statistics, string OutputPath,
    PairQualityStatistics? Quality = null);

/// <summary>A generated pair row (the IDataView row type of <see cref="PairConstructionResult.Pairs"/>).</summary>
public sealed class GeneratedPairRow
{
    /// <summary>Image paths.</summary>
    public string[] Image { get; set; } = [];
    /// <summary>
    /// The prompt the responses were sampled with, instruction included (see <see cref="Generation.InstructionTemplate"/>):
    /// train on it as it is, and the trained transformer asks with the same template.
    /// </summary>
    public string Prompt { get; set; } = "";
    /// <summary>Preferred response.</summary>
    public string Chosen { get; set; } = "";
    /// <summary>Dispreferred response.</summary>
    public string Rejected { get; set; } = "";
    /// <summary>Ground truth, empty for DropoutNTP.</summary>
    public string AnswerGt { get; set; } = "";

    /// <summary>The row of a job file's pair record.</summary>
    internal static GeneratedPairRow FromRecord(JsonObject record) => new()
    {
        Image = [.. record["image"]!.AsArray().Select(x => x!.GetValue<string>())],
        Prompt = Text(record, "question"), Chosen = Text(record, "chosen"), Rejected = Text(record, "rejected"), AnswerGt = Text(record, "answer_gt"),
    };

    internal static string Text(JsonObject record, string field) => record[field]?.GetValue<string>() ?? "";
}

/// <summary>A sampled response whose final answer could not be read.</summary>
public sealed class FormatFailureRow
{
    /// <summary>Image paths.</summary>
    public string[] Image { get; set; } = [];
    /// <summary>The prompt the response was sampled with, instruction included.</summary>
    public string Prompt { get; set; } = "";
    /// <summary>The response.</summary>
    public string Response { get; set; } = "";
    /// <summary>Ground truth.</summary>
    public string AnswerGt { get; set; } = "";
}
