using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Checkpoints;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Precomputes the reference model's log-probs of every row in one pass and keeps them on disk, keyed by the
/// data and the reference model, so later runs on the same data and reference skip the pass entirely.
/// </summary>
internal static class ReferenceLogProbCache
{
    public static PrecomputedReference Build(
        IReadOnlyList<PreparedRow> rows, IReferenceLogProbs source, string referenceKey, string cacheDirectory,
        Func<IReadOnlyList<PreparedRow>, PreferenceBatch> makeBatch, int batchSize, Action<string> log, CancellationToken cancellationToken)
    {
        string dataKey = Fingerprints.Data(rows);
        var path = Path.Combine(cacheDirectory, $"reference-logps-{dataKey[..16]}-{referenceKey[..16]}.safetensors");
        var description = $"{source.Description}, precomputed ({path})";
        if (File.Exists(path))
        {
            var cached = Read(path, rows);
            if (cached is not null)
            {
                log($"Reference log-probs: reusing {path} ({rows.Count} rows).");
                return new PrecomputedReference(cached, description);
            }
            log($"Reference log-probs: {path} does not cover these rows; recomputing.");
        }

        log($"Reference log-probs: computing {rows.Count} rows with {source.Description} once, cached at {path}.");
        var rowIds = new long[rows.Count];
        var chosen = new float[rows.Count];
        var rejected = new float[rows.Count];
        for (int start = 0; start < rows.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = rows.Skip(start).Take(batchSize).ToList();
            using var scope = torch.NewDisposeScope();
            using var batch = makeBatch(chunk);
            var sums = source.Compute(batch).cpu().data<float>().ToArray();
            for (int i = 0; i < chunk.Count; i++)
            {
                rowIds[start + i] = chunk[i].RowIndex;
                chosen[start + i] = sums[i];
                rejected[start + i] = sums[chunk.Count + i];
            }
        }
        Directory.CreateDirectory(cacheDirectory);
        using (var scope = torch.NewDisposeScope())
            SafetensorsWriter.Write(path, [("row_index", torch.tensor(rowIds, device: torch.CPU)), ("chosen", torch.tensor(chosen, device: torch.CPU)), ("rejected", torch.tensor(rejected, device: torch.CPU))]);
        var map = new Dictionary<long, (float, float)>(rows.Count);
        for (int i = 0; i < rows.Count; i++)
            map[rowIds[i]] = (chosen[i], rejected[i]);
        return new PrecomputedReference(map, description);
    }

    private static Dictionary<long, (float, float)>? Read(string path, IReadOnlyList<PreparedRow> rows)
    {
        using var file = SafetensorsFile.Open(path);
        using var scope = torch.NewDisposeScope();
        var ids = file.Read("row_index").data<long>().ToArray();
        var chosen = file.Read("chosen").data<float>().ToArray();
        var rejected = file.Read("rejected").data<float>().ToArray();
        var map = new Dictionary<long, (float, float)>(ids.Length);
        for (int i = 0; i < ids.Length; i++)
            map[ids[i]] = (chosen[i], rejected[i]);
        return rows.All(r => map.ContainsKey(r.RowIndex)) ? map : null;
    }
}
