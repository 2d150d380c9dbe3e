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
    /// <summary>
    /// Processes the rows of <paramref name="shard"/> not yet done, writes the job_done line once all are, and returns
    /// the statistics of the whole job file, read back from it (also written beside it, see <see cref="PairQualityStatistics"/>).
    /// </summary>
    public static PairConstructionStatistics Run(IReadOnlyList<PairSource> rows, string outputPath, JsonObject settings, bool showProgress,
        IProgress<PairJobProgress>? progress, CancellationToken cancellationToken,
        Func<PairSource, Action<GeneratedToken>, (IEnumerable<JsonObject> Lines, JsonObject Counts)> process, string title, PairJobShard? shard = null)
    {
        shard ??= PairJobShard.Whole;
        shard.Validate();
        if (shard.IsPartial)
            settings["shard"] = new JsonObject { ["index"] = shard.Index, ["count"] = shard.Count };
        var mine = rows.Where((_, position) => shard.Owns(position)).ToList();
        using (var log = new PairJobLog(outputPath))
        {
            // A resumed file must belong to this run, or its rows would be mixed into the result without a word: the same
            // settings (sampling, model, seed, shard; a file without them cannot be checked) and no finished rows of other
            // rows (another data set, image folder or question count). Checked before any work; the file is left as it is.
            if (log.Settings is null && log.DoneKeys.Count > 0)
                throw new InvalidOperationException(
                    $"{outputPath} holds {log.DoneKeys.Count} finished row(s) but no settings line (it was written by an earlier version), so it cannot be " +
                    "told whether they were sampled the same way. Delete it, or write to another file; it was left as it is.");
            if (log.Settings is not null && PairJobSettings.Differences(log.Settings, settings) is { Count: > 0 } differences)
                throw new InvalidOperationException(
                    $"{outputPath} was written with other settings ({string.Join("; ", differences)}): resuming it would mix two runs' rows. " +
                    "Delete it, or write to another file; it was left as it is.");
            var keys = mine.Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
            var foreign = log.DoneKeys.Where(k => !keys.Contains(k)).ToList();
            if (foreign.Count > 0)
                throw new InvalidOperationException(
                    $"{outputPath} holds {foreign.Count} finished row(s) that are not in this input{(shard.IsPartial ? $"'s shard {shard.Index} of {shard.Count}" : "")} " +
                    $"(first: '{foreign[0]}'): it was written for other rows. Delete it, or write to another file; it was left as it is.");
            if (log.Settings is null)
                log.StartWith(settings);
            long tokens = 0;
            int pairs = 0;
            var clock = Stopwatch.StartNew();
            void Loop(Action<int>? tick)
            {
                int done = 0;
                foreach (var row in mine)
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
                    progress?.Report(new PairJobProgress(done, mine.Count, tokens, tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds), pairs));
                    tick?.Invoke(done);
                }
            }
            if (!showProgress)
                Loop(null);
            else
                ConsoleProgress.Run(title, mine.Count, report =>
                    Loop(done => report(done, $"{title}: {done}/{mine.Count} rows, {pairs} pairs, {tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds):F0} tokens/s")));
            var finished = DoneLine(rows, shard, mine.Count);
            if (log.Done is null || !JsonNode.DeepEquals(log.Done, finished))
                log.Finish(finished);
        }
        var file = PairJobFile.Read(outputPath);
        PairQualityStatistics.From(file).Save(PairQualityStatistics.PathFor(outputPath));
        return PairConstructionStatistics.FromMarkers(file.Markers);
    }

    /// <summary>
    /// What the job_done line says: the rows this job built and the whole input they came from (its row count and a
    /// hash of its rows' seed keys, which name images by file name so machines that mount them elsewhere agree), so that shards of different inputs are told apart when they are merged.
    /// </summary>
    internal static JsonObject DoneLine(IReadOnlyList<PairSource> rows, PairJobShard shard, int shardRows) => new()
    {
        ["rows"] = shardRows,
        ["input_rows"] = rows.Count,
        ["input"] = InputFingerprint(rows.Select(r => r.SeedKey)),
        ["shard_index"] = shard.Index,
        ["shard_count"] = shard.Count,
    };

    /// <summary>A short hash of the input's row keys in order.</summary>
    internal static string InputFingerprint(IEnumerable<string> keys)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var key in keys)
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(key + "\n"));
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
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
