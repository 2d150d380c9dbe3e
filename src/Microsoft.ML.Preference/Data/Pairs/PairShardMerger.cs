using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Data.Mmpr;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>
/// Joins the finished job files of a sharded pair build (<see cref="PairJobShard"/>) into one MMPR folder. The shards
/// must be one build: every shard of the same count once, each finished (its job_done line written), all with the same
/// settings (model, sampling, pipeline rules) and the same input; any other set is refused naming the file at fault,
/// before anything is written. The pairs are written in a canonical order, by input row and, within a row, in the
/// order the row wrote them, which is the order a single-process build writes: N shards merged give the same bytes as
/// one whole build merged (or the MMPR folder <c>mpo build-pairs</c> writes itself).
/// </summary>
internal static class PairShardMerger
{
    /// <summary>Checks and merges <paramref name="jobFiles"/> into <paramref name="folder"/> as data set <paramref name="name"/>; returns the meta.json path.</summary>
    public static (string MetaPath, PairQualityStatistics Quality) Merge(MLContext ml, IReadOnlyList<string> jobFiles, string folder, string name)
    {
        if (jobFiles.Count == 0)
            throw new ArgumentException("No job files to merge: name every shard's file (e.g. pairs.shard-*-of-4.jsonl).");
        var shards = jobFiles.Select(Read).ToList();
        var first = shards[0];
        int count = first.Done["shard_count"]!.GetValue<int>();
        var seen = new Dictionary<int, string>();
        foreach (var shard in shards)
        {
            int shardCount = shard.Done["shard_count"]!.GetValue<int>(), index = shard.Done["shard_index"]!.GetValue<int>();
            if (shardCount != count)
                throw new InvalidDataException($"{shard.Path} is shard {index} of {shardCount}, but {first.Path} is one of {count}: they are not one build.");
            if (!seen.TryAdd(index, shard.Path))
                throw new InvalidDataException($"{shard.Path} and {seen[index]} are both shard {index} of {count}.");
            foreach (var field in new[] { "input", "input_rows" })
                if (!JsonNode.DeepEquals(shard.Done[field], first.Done[field]))
                    throw new InvalidDataException($"{shard.Path} was built from another input than {first.Path} ({field}: " +
                        $"{shard.Done[field]?.ToJsonString()} vs {first.Done[field]?.ToJsonString()}).");
            var differences = PairJobSettings.Differences(WithoutShard(first.Settings), WithoutShard(shard.Settings));
            if (differences.Count > 0)
                throw new InvalidDataException($"{shard.Path} was built with other settings than {first.Path} ({string.Join("; ", differences)}).");
        }
        var missing = Enumerable.Range(0, count).Where(i => !seen.ContainsKey(i)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"Shard(s) {string.Join(", ", missing)} of {count} are missing: {shards.Count} file(s) given " +
                $"({string.Join(", ", shards.Select(s => Path.GetFileName(s.Path)))}).");

        // Canonical order: input row, then the row's own order (a row lives in one shard, and a stable sort keeps it).
        var records = shards.SelectMany(s => s.File.Records).OrderBy(r => r["row_index"]!.GetValue<long>()).ToList();
        var markers = shards.SelectMany(s => s.File.Markers).ToList();
        var pairs = records.Where(r => GeneratedPairRow.Text(r, "kind") == "pair").Select(GeneratedPairRow.FromRecord).ToList();
        var meta = MmprWriter.Save(ml.Data.LoadFromEnumerable(pairs), folder, name, imageRoot: null, maxDynamicPatch: null);
        var quality = PairQualityStatistics.From(records, markers);
        quality.Save(PairQualityStatistics.PathFor(Path.Combine(Path.GetDirectoryName(meta)!, name + ".jsonl")));
        return (meta, quality);
    }

    private sealed record Shard(string Path, PairJobFile File, JsonObject Settings, JsonObject Done);

    private static Shard Read(string path)
    {
        if (!System.IO.File.Exists(path))
            throw new FileNotFoundException($"Shard job file '{path}' does not exist.", path);
        var file = PairJobFile.Read(path);
        var settings = file.Settings ?? throw new InvalidDataException($"{path} has no settings line: it is not a pair job file of this version.");
        var done = file.Done ?? throw new InvalidDataException($"{path} is unfinished ({file.Markers.Count} row(s) done, no job_done line): " +
            "rerun its shard with the same command to finish it, then merge.");
        if (done["rows"]?.GetValue<int>() != file.Markers.Count)
            throw new InvalidDataException($"{path} says {done["rows"]} row(s) are done but holds {file.Markers.Count}: rerun its shard to finish it.");
        return new Shard(path, file, settings, done);
    }

    private static JsonObject WithoutShard(JsonObject settings)
    {
        var copy = settings.DeepClone().AsObject();
        copy.Remove("shard");
        return copy;
    }
}
