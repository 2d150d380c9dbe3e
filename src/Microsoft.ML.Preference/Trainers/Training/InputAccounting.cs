using Microsoft.ML.Preference.Data;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// What the training input met as it streamed: rows skipped by reason (restored from a checkpoint on resume, so the
/// totals cover the whole run) and rows cut to MaxLength. Rows are counted in their first epoch only, where each row
/// is met exactly once, so a bad row is not counted again in later epochs. Updated on the training thread.
/// </summary>
internal sealed class InputAccounting
{
    private const int RowsLoggedOneByOne = 10;
    private int _logged;

    public InputAccounting(IReadOnlyDictionary<string, int>? skipped = null)
    {
        foreach (var (reason, count) in skipped ?? new Dictionary<string, int>())
            Skipped[reason] = count;
    }

    /// <summary>Skipped rows by <see cref="BadRowReason"/> name.</summary>
    public Dictionary<string, int> Skipped { get; } = new();

    public int SkippedTotal => Skipped.Values.Sum();

    /// <summary>Rows met (in their first epoch) by this process.</summary>
    public int RowsMet { get; private set; }

    /// <summary>Of those, rows cut to MaxLength, and the one of them with the lowest row index.</summary>
    public int Truncated { get; private set; }

    public PreparedRow? FirstTruncated { get; private set; }

    /// <summary>Counts <paramref name="batch"/>'s rows when it belongs to the first epoch; the first few skips are logged one by one.</summary>
    public void Record(LoadedMicroBatch batch, bool firstEpoch, Action<string> log)
    {
        if (!firstEpoch)
            return;
        RowsMet += batch.Attempted;
        foreach (var bad in batch.BadRows)
        {
            var reason = bad.Reason.ToString();
            Skipped[reason] = Skipped.GetValueOrDefault(reason) + 1;
            if (_logged++ < RowsLoggedOneByOne)
                log($"Skipped {bad.Message}" + (_logged == RowsLoggedOneByOne ? " (further skips are counted, not listed)" : ""));
        }
        foreach (var row in batch.Rows)
        {
            if (!row.Pair.Chosen.Truncation.IsTruncated && !row.Pair.Rejected.Truncation.IsTruncated)
                continue;
            Truncated++;
            if (FirstTruncated is null || row.RowIndex < FirstTruncated.RowIndex)
                FirstTruncated = row;
        }
    }

    /// <summary>"MissingImage 2, EmptyText 1", or null when nothing was skipped.</summary>
    public string? SkippedSummary() =>
        Skipped.Count == 0 ? null : string.Join(", ", Skipped.Select(kv => $"{kv.Key} {kv.Value}"));
}
