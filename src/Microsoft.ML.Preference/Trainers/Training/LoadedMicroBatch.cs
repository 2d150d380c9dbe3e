using System.Runtime.ExceptionServices;
using Microsoft.ML.Preference.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// One micro-batch as a data-loader worker leaves it: the rows that passed, each with its tiles (decoded and tiled
/// once, on the worker), and the rows that did not, in visiting order. Owns the tiles until they are handed on.
/// </summary>
internal sealed class LoadedMicroBatch : IDisposable
{
    public required int Index { get; init; }
    public required IReadOnlyList<PreparedRow> Rows { get; init; }
    public required IReadOnlyList<Tensor?> Tiles { get; init; }
    public required IReadOnlyList<BadRowException> BadRows { get; init; }

    /// <summary>An error that is not a bad row (a file vanished, an internal fault): rethrown where the batch is taken.</summary>
    public ExceptionDispatchInfo? Failure { get; init; }

    /// <summary>How many rows were attempted (good and bad).</summary>
    public int Attempted => Rows.Count + BadRows.Count;

    public void Dispose()
    {
        foreach (var t in Tiles)
            t?.Dispose();
    }

    /// <summary>Reads, checks, tokenises and tiles the rows at <paramref name="positions"/> of <paramref name="source"/>.</summary>
    public static LoadedMicroBatch Load(int index, int[] positions, PreferenceRowSource source, PreferenceRowPreparer preparer)
    {
        var rows = new List<PreparedRow>(positions.Length);
        var tiles = new List<Tensor?>(positions.Length);
        var bad = new List<BadRowException>();
        try
        {
            foreach (var position in positions)
            {
                try
                {
                    var (row, rowTiles) = preparer.PrepareWithTiles(source.Read(position));
                    rows.Add(row);
                    tiles.Add(rowTiles);
                }
                catch (BadRowException e)
                {
                    bad.Add(e);
                }
            }
        }
        catch (Exception e)
        {
            foreach (var t in tiles)
                t?.Dispose();
            return new LoadedMicroBatch { Index = index, Rows = [], Tiles = [], BadRows = bad, Failure = ExceptionDispatchInfo.Capture(e) };
        }
        return new LoadedMicroBatch { Index = index, Rows = rows, Tiles = tiles, BadRows = bad };
    }
}
