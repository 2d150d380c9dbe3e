using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>Which end of a row padding goes to.</summary>
internal enum PaddingSide
{
    /// <summary>After the tokens (training, as InternVL and TRL pad).</summary>
    Right,

    /// <summary>Before the tokens (batched generation, as InternVL's <c>batch_chat</c> pads).</summary>
    Left,
}

/// <summary>
/// Rows padded to one length, row-major [Rows, Length] int64 arrays: input ids (pad id on pads), labels (-100 on pads)
/// and attention mask (0 on pads). A preference batch holds the chosen rows first and the rejected rows after them,
/// as TRL's <c>concatenated_inputs</c> stacks them: rows 0..B-1 chosen, B..2B-1 rejected of pairs 0..B-1.
/// </summary>
internal sealed class PaddedBatch
{
    private PaddedBatch(int rows, int length, long[] inputIds, long[] labels, long[] attentionMask)
    {
        Rows = rows;
        Length = length;
        InputIds = inputIds;
        Labels = labels;
        AttentionMask = attentionMask;
    }

    /// <summary>The number of rows.</summary>
    public int Rows { get; }

    /// <summary>The padded length.</summary>
    public int Length { get; }

    /// <summary>Input ids, row-major [Rows, Length].</summary>
    public long[] InputIds { get; }

    /// <summary>Labels, row-major [Rows, Length]; -100 on pads.</summary>
    public long[] Labels { get; }

    /// <summary>Attention mask, row-major [Rows, Length]; 0 on pads.</summary>
    public long[] AttentionMask { get; }

    /// <summary>Pads <paramref name="rows"/> to the longest of them (or to <paramref name="length"/>).</summary>
    /// <param name="rows">The rows.</param>
    /// <param name="padId">The padding id (<see cref="PromptEncoder.PadId"/>).</param>
    /// <param name="side">Where the padding goes.</param>
    /// <param name="length">A fixed length, at least the longest row's; null pads to the longest row.</param>
    /// <exception cref="ArgumentException">No rows, or a row is longer than <paramref name="length"/>.</exception>
    public static PaddedBatch Create(IReadOnlyList<TokenizedSequence> rows, int padId, PaddingSide side = PaddingSide.Right, int? length = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            throw new ArgumentException("A batch needs at least one row.", nameof(rows));
        int longest = rows.Max(r => (r ?? throw new ArgumentException("A row is null.", nameof(rows))).Length);
        int t = length ?? longest;
        if (t < longest)
            throw new ArgumentException($"The batch length {t} is shorter than its longest row ({longest} ids).", nameof(length));
        var ids = new long[rows.Count * t];
        var labels = new long[rows.Count * t];
        var mask = new long[rows.Count * t];
        for (int r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            int offset = r * t, start = side == PaddingSide.Right ? 0 : t - row.Length;
            Array.Fill(ids, padId, offset, t);
            Array.Fill(labels, PromptBuilder.IgnoreIndex, offset, t);
            for (int i = 0; i < row.Length; i++)
            {
                ids[offset + start + i] = row.RawIds[i];
                labels[offset + start + i] = row.RawLabels[i];
                mask[offset + start + i] = 1;
            }
        }
        return new PaddedBatch(rows.Count, t, ids, labels, mask);
    }

    /// <summary>Pads preference pairs into [2B, T]: the chosen rows of pairs 0..B-1, then their rejected rows.</summary>
    /// <param name="pairs">The pairs.</param>
    /// <param name="padId">The padding id.</param>
    /// <param name="length">A fixed length; null pads to the longest row of the batch.</param>
    public static PaddedBatch FromPairs(IReadOnlyList<PreferencePair> pairs, int padId, int? length = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Any(p => p is null))
            throw new ArgumentException("A pair is null.", nameof(pairs));
        return Create([.. pairs.Select(p => p.Chosen), .. pairs.Select(p => p.Rejected)], padId, PaddingSide.Right, length);
    }

    /// <summary>The input ids as an int64 tensor [Rows, Length].</summary>
    public Tensor InputIdsTensor(Device? device = null) => ToTensor(InputIds, device);

    /// <summary>The labels as an int64 tensor [Rows, Length].</summary>
    public Tensor LabelsTensor(Device? device = null) => ToTensor(Labels, device);

    /// <summary>The attention mask as an int64 tensor [Rows, Length].</summary>
    public Tensor AttentionMaskTensor(Device? device = null) => ToTensor(AttentionMask, device);

    /// <summary>Row <paramref name="row"/> of <paramref name="data"/> (one of the three arrays).</summary>
    public ReadOnlySpan<long> Row(long[] data, int row)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        return data.AsSpan(row * Length, Length);
    }

    private Tensor ToTensor(long[] data, Device? device)
    {
        Runtime.TorchRuntime.Initialize();
        return tensor(data, [Rows, Length], ScalarType.Int64, device);
    }
}
