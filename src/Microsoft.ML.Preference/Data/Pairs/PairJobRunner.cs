using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>
/// The common frame of the pair pipelines: iterate the source rows, skip those a previous run finished, let the
/// pipeline turn each remaining row into output lines, append them, report progress (with generated tokens/s)
/// and stop cleanly on cancellation.
/// </summary>
internal static class PairJobRunner
{
    /// <summary>Processes the rows not yet done and returns the statistics of the whole output file.</summary>
    public static PairConstructionStatistics Run(IReadOnlyList<PairSource> rows, string outputPath, JsonObject settings, bool showProgress,
        IProgress<PairJobProgress>? progress, CancellationToken cancellationToken,
        Func<PairSource, Action<GeneratedToken>, (IEnumerable<JsonObject> Lines, JsonObject Counts)> process, string title)
    {
        using var log = new PairJobLog(outputPath);
        // A resumed file must belong to this run, or its rows would be mixed into the result without a word: the same
        // settings (sampling, model, seed; a file without them cannot be checked) and no finished rows of other rows
        // (another data set, image folder or question count). Checked before any work; the file is left as it is.
        if (log.Settings is null && log.DoneKeys.Count > 0)
            throw new InvalidOperationException(
                $"{outputPath} holds {log.DoneKeys.Count} finished row(s) but no settings line (it was written by an earlier version), so it cannot be " +
                "told whether they were sampled the same way. Delete it, or write to another file; it was left as it is.");
        if (log.Settings is not null && PairJobSettings.Differences(log.Settings, settings) is { Count: > 0 } differences)
            throw new InvalidOperationException(
                $"{outputPath} was written with other settings ({string.Join("; ", differences)}): resuming it would mix two runs' rows. " +
                "Delete it, or write to another file; it was left as it is.");
        var keys = rows.Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
        var foreign = log.DoneKeys.Where(k => !keys.Contains(k)).ToList();
        if (foreign.Count > 0)
            throw new InvalidOperationException(
                $"{outputPath} holds {foreign.Count} finished row(s) that are not in this input (first: '{foreign[0]}'): it was written for " +
                "other rows. Delete it, or write to another file; it was left as it is.");
        if (log.Settings is null)
            log.StartWith(settings);
        long tokens = 0;
        int pairs = 0;
        var clock = Stopwatch.StartNew();
        void Loop(Action<int>? tick)
        {
            int done = 0;
            foreach (var row in rows)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var key = row.Key;
                if (!log.DoneKeys.Contains(key))
                {
                    var (lines, counts) = process(row, _ => Interlocked.Increment(ref tokens));
                    var list = lines.ToList();
                    pairs += list.Count(l => l["kind"]?.GetValue<string>() == "pair");
                    log.Complete(key, list, counts);
                }
                done++;
                progress?.Report(new PairJobProgress(done, rows.Count, tokens, tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds), pairs));
                tick?.Invoke(done);
            }
        }
        if (!showProgress)
        {
            Loop(null);
            return PairConstructionStatistics.FromMarkers(log.Markers);
        }
        ConsoleProgress.Run(title, rows.Count, report =>
            Loop(done => report(done, $"{title}: {done}/{rows.Count} rows, {pairs} pairs, {tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds):F0} tokens/s")));
        return PairConstructionStatistics.FromMarkers(log.Markers);
    }

    /// <summary>A per-row seed that does not depend on which rows ran before (so a resumed run samples the same).</summary>
    public static long RowSeed(long seed, string key)
    {
        unchecked
        {
            ulong h = 14695981039346656037UL;
            foreach (char c in key)
                h = (h ^ c) * 1099511628211UL;
            return (long)((ulong)seed ^ h) & long.MaxValue;
        }
    }

    /// <summary>
    /// The MMPR line fields shared by every record of a row; "question" is <paramref name="prompt"/>, the prompt the
    /// responses were generated with (as MMPR's pipeline stores it), "question_orig" the row's question when it differs.
    /// </summary>
    public static JsonObject BaseRecord(PairSource row, string prompt, string kind)
    {
        var images = new JsonArray(row.Images.Select(i => (JsonNode?)(i is ImageSource.FromFile f ? f.Path : i.Describe())).ToArray());
        var record = new JsonObject
        {
            ["kind"] = kind,
            ["image"] = images,
            ["question"] = prompt,
            ["answer_gt"] = row.GroundTruth,
            ["row_index"] = row.RowIndex,
        };
        if (prompt != row.Question)
            record["question_orig"] = row.Question;
        return record;
    }

    public static GenerationRequest Request(VisionLanguageModel vlm, PairSource row, string question) =>
        vlm.Request(row.Images, question, row.RowIndex);
}
