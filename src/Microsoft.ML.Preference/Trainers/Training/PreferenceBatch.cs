using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Text.Prompts;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// B preference pairs as the model reads them, TRL's concatenated layout: input ids, labels and mask [2B, T] with
/// rows 0..B-1 chosen and B..2B-1 rejected (right-padded), and the pairs' tiles once [N, 3, S, S] in pair order.
/// Owns its tensors.
/// </summary>
internal sealed class PreferenceBatch : IDisposable
{
    public required long[] RowIndices { get; init; }
    public required Tensor? PairTiles { get; init; }
    public required Tensor InputIds { get; init; }
    public required Tensor AttentionMask { get; init; }
    public required Tensor Labels { get; init; }

    /// <summary>Non-padding tokens of the 2B sequences (for tokens/s).</summary>
    public required long Tokens { get; init; }

    public int Pairs => RowIndices.Length;

    /// <summary>A batch of <paramref name="rows"/>, their images decoded and tiled here (evaluation, the reference pass).</summary>
    public static PreferenceBatch Create(IReadOnlyList<PreparedRow> rows, PreferenceRowPreparer preparer, int padId, Device device)
    {
        var tiles = new List<Tensor?>(rows.Count);
        try
        {
            foreach (var row in rows)
                tiles.Add(preparer.Tiles(row));
            return Create(rows, tiles, padId, device);
        }
        finally
        {
            foreach (var t in tiles)
                t?.Dispose();
        }
    }

    /// <summary>A batch of <paramref name="rows"/> with their tiles already made (a data-loader worker's); the caller keeps owning <paramref name="tiles"/>.</summary>
    public static PreferenceBatch Create(IReadOnlyList<PreparedRow> rows, IReadOnlyList<Tensor?> tiles, int padId, Device device)
    {
        using var scope = torch.NewDisposeScope();
        var padded = PaddedBatch.FromPairs(rows.Select(r => r.Pair).ToList(), padId);
        var present = tiles.Where(t => t is not null).Select(t => t!).ToList();
        var batch = new PreferenceBatch
        {
            RowIndices = rows.Select(r => r.RowIndex).ToArray(),
            PairTiles = present.Count == 0 ? null : torch.cat(present).to(device).MoveToOuterDisposeScope(),
            InputIds = padded.InputIdsTensor(device).MoveToOuterDisposeScope(),
            AttentionMask = padded.AttentionMaskTensor(device).MoveToOuterDisposeScope(),
            Labels = padded.LabelsTensor(device).MoveToOuterDisposeScope(),
            Tokens = padded.AttentionMask.Sum(),
        };
        return batch;
    }

    public void Dispose()
    {
        PairTiles?.Dispose();
        InputIds.Dispose();
        AttentionMask.Dispose();
        Labels.Dispose();
    }
}
