using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>
/// How good a pair file is as training data, counted from the file itself (so a resumed, merged or copied file
/// reports the same): whether chosen responses reason or only state an answer, whether the chosen answers are
/// balanced across ground truths, how many pairs contrast a chain with a bare answer (those teach "write more", not
/// "reason better"), and what the filters removed. Written beside every pair file as <c>&lt;file&gt;.stats.json</c>.
/// </summary>
/// <param name="Questions">Source rows finished.</param>
/// <param name="Pairs">Pairs in the file.</param>
/// <param name="BareChosen">Pairs whose chosen response is a bare final line (nothing before "Final answer:", or a one-line answer).</param>
/// <param name="ChainVersusBare">Pairs in which one response reasons and the other is a bare final line.</param>
/// <param name="FormatFailures">Sampled responses whose answer could not be read.</param>
/// <param name="FormatFailurePairs">Pairs whose rejected response is a format failure (MMPR's format-rule pairs).</param>
/// <param name="SkippedChosenInsideRejected">Candidate pairs dropped by the containment filter.</param>
/// <param name="ChosenPerGroundTruth">Pairs per ground-truth answer (ordinal order; empty for DropoutNTP).</param>
public sealed partial record PairQualityStatistics(int Questions, int Pairs, int BareChosen, int ChainVersusBare, int FormatFailures, int FormatFailurePairs,
    int SkippedChosenInsideRejected, IReadOnlyList<KeyValuePair<string, int>> ChosenPerGroundTruth)
{
    /// <summary>The share of chosen responses that are a bare final line (0 when there are no pairs).</summary>
    public double BareChosenShare => Pairs == 0 ? 0 : (double)BareChosen / Pairs;

    /// <summary>The most pairs of one ground truth over the fewest (1 is balanced; 0 when there are none).</summary>
    public double AnswerImbalance => ChosenPerGroundTruth.Count == 0 ? 0 : (double)ChosenPerGroundTruth.Max(kv => kv.Value) / ChosenPerGroundTruth.Min(kv => kv.Value);

    /// <summary>Whether <paramref name="response"/> states its answer without reasoning: nothing but blank text before its last "Final answer:", or no marker and a single line.</summary>
    public static bool IsBareAnswer(string response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var markers = Marker().Matches(response);
        if (markers.Count == 0)
            return !response.Trim().Contains('\n');
        return response[..markers[^1].Index].Trim().Length == 0;
    }

    internal static PairQualityStatistics From(PairJobFile file) => From(file.Records, file.Markers);

    internal static PairQualityStatistics From(IReadOnlyList<JsonObject> records, IReadOnlyList<JsonObject> markers)
    {
        int pairs = 0, bare = 0, contrast = 0, formatPairs = 0;
        var perTruth = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var record in records)
        {
            if (record["kind"]?.GetValue<string>() != "pair")
                continue;
            pairs++;
            bool chosenBare = IsBareAnswer(record["chosen"]?.GetValue<string>() ?? "");
            bool rejectedBare = IsBareAnswer(record["rejected"]?.GetValue<string>() ?? "");
            if (chosenBare)
                bare++;
            if (chosenBare != rejectedBare)
                contrast++;
            if (record["rule"]?.GetValue<string>() == CorrectnessPairPipeline.FormatRule)
                formatPairs++;
            if (record["answer_gt"]?.GetValue<string>() is { Length: > 0 } truth)
                perTruth[truth] = perTruth.GetValueOrDefault(truth) + 1;
        }
        int Sum(string name) => markers.Sum(m => m[name]?.GetValue<int>() ?? 0);
        return new PairQualityStatistics(markers.Count, pairs, bare, contrast, Sum("format_failures"), formatPairs, Sum("skipped_substring"), [.. perTruth]);
    }

    /// <summary>The statistics as the JSON written beside a pair file.</summary>
    public JsonObject ToJson()
    {
        var balance = new JsonObject();
        foreach (var (truth, count) in ChosenPerGroundTruth)
            balance[truth] = count;
        return new JsonObject
        {
            ["questions"] = Questions,
            ["pairs"] = Pairs,
            ["bare_chosen"] = BareChosen,
            ["bare_chosen_share"] = Math.Round(BareChosenShare, 6),
            ["chain_versus_bare_pairs"] = ChainVersusBare,
            ["format_failures"] = FormatFailures,
            ["format_failure_pairs"] = FormatFailurePairs,
            ["skipped_chosen_inside_rejected"] = SkippedChosenInsideRejected,
            ["answer_imbalance"] = Math.Round(AnswerImbalance, 6),
            ["chosen_per_ground_truth"] = balance,
        };
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> (whole or not at all: a temporary file, then a rename).</summary>
    public void Save(string path)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions
        {
            WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }) + "\n", PairJobFile.Utf8);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Where the statistics of the pair file <paramref name="pairFile"/> are written.</summary>
    public static string PathFor(string pairFile) => pairFile + ".stats.json";

    /// <summary>The statistics in a few lines for the console.</summary>
    public override string ToString()
    {
        var balance = ChosenPerGroundTruth.Count == 0 ? "none"
            : string.Join(", ", ChosenPerGroundTruth.Take(8).Select(kv => $"{kv.Key} {kv.Value}")) + (ChosenPerGroundTruth.Count > 8 ? $", ... ({ChosenPerGroundTruth.Count} answers)" : "");
        return $"pair quality: {BareChosen} of {Pairs} chosen responses are a bare final line ({BareChosenShare:P1}); {ChainVersusBare} pairs contrast a chain " +
            $"with a bare answer; {FormatFailures} format failures ({FormatFailurePairs} used as rejected); {SkippedChosenInsideRejected} pairs skipped " +
            $"(chosen inside rejected); pairs per ground truth: {balance} (most/fewest {AnswerImbalance:F2})";
    }

    [GeneratedRegex(@"final\s+answer\s*:", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Marker();
}
