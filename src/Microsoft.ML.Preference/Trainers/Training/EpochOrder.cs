namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// The order rows are visited in: epoch e reads a permutation seeded by (seed, e), so the rows of any micro-batch
/// are a pure function of (seed, epoch, step) and a checkpoint needs no data cursor. Only the current epoch's
/// permutation is held (4 bytes a row). With length grouping the permutation is then regrouped as InternVL's
/// <c>group_by_length</c> does (internvl_chat/internvl/patch/train_sampler_patch.py, <c>get_length_grouped_indices</c>,
/// with world_size = gradient_accumulation_steps on one device): each mega-batch of the rows of one optimiser step is
/// sorted longest first and dealt into one micro-batch per accumulation step, each going to the micro-batch whose
/// total length is smallest so far (<c>split_to_even_chunks</c>). With length-grouped steps the permutation is first
/// regrouped across steps, as Hugging Face's <c>LengthGroupedSampler</c> does (trainer_pt_utils.py,
/// <c>get_length_grouped_indices</c>): each window of that many steps' rows is sorted longest first and cut into
/// steps, so that a step's rows have similar lengths; unlike Hugging Face, which runs a window's steps longest first,
/// the window's whole steps then run in a seeded random order, so that training does not sweep from long rows to short.
/// </summary>
internal sealed class EpochOrder
{
    private readonly int _rows;
    private readonly int _seed;
    private readonly int _batchSize;
    private readonly int _accumulation;
    private readonly Func<int, int>? _lengthOf;
    private readonly bool _groupWithinStep;
    private readonly int _lengthGroupedSteps;
    // The current epoch's order and the one before: workers loading ahead across an epoch's end ask for both.
    private (int Epoch, int[] Order) _current = (-1, []), _previous = (-1, []);

    /// <param name="rows">Rows in the data.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="batchSize">Pairs per micro-batch.</param>
    /// <param name="accumulation">Micro-batches per optimiser step.</param>
    /// <param name="lengthOf">A row's length, read only by the groupings below (null when neither is asked for).</param>
    /// <param name="groupWithinStep">Deal each step's rows into its micro-batches by length (InternVL's grouping).</param>
    /// <param name="lengthGroupedSteps">Steps per window of the grouping across steps (Hugging Face's); 0 for none.</param>
    public EpochOrder(int rows, int seed, int batchSize, int accumulation, Func<int, int>? lengthOf = null, bool groupWithinStep = false, int lengthGroupedSteps = 0)
    {
        if (lengthOf is null && (groupWithinStep || lengthGroupedSteps > 0))
            throw new ArgumentNullException(nameof(lengthOf), "Grouping rows by length needs their lengths.");
        _rows = rows;
        _seed = seed;
        _batchSize = batchSize;
        _accumulation = accumulation;
        _lengthOf = lengthOf;
        _groupWithinStep = groupWithinStep;
        _lengthGroupedSteps = lengthGroupedSteps;
        MicroBatchesPerEpoch = (rows + batchSize - 1) / batchSize;
    }

    public int MicroBatchesPerEpoch { get; }

    /// <summary>The row positions of global micro-batch <paramref name="index"/> (the last of an epoch may be short).</summary>
    public int[] MicroBatch(int index)
    {
        int epoch = index / MicroBatchesPerEpoch;
        int within = index % MicroBatchesPerEpoch;
        var order = For(epoch);
        int start = within * _batchSize;
        return order.AsSpan(start, Math.Min(_batchSize, order.Length - start)).ToArray();
    }

    /// <summary>Epoch <paramref name="epoch"/>'s order (computed once; the last two epochs are kept). Not thread-safe.</summary>
    public int[] For(int epoch)
    {
        if (epoch == _current.Epoch)
            return _current.Order;
        if (epoch == _previous.Epoch)
            return _previous.Order;
        var order = new int[_rows];
        for (int i = 0; i < order.Length; i++)
            order[i] = i;
        // A fixed formula, not HashCode.Combine: that one is randomised per process, and a resumed run in a new
        // process must see the same order.
        var random = new Random(unchecked(_seed * 1_000_003 + epoch) & int.MaxValue);
        random.Shuffle(order);
        if (_lengthGroupedSteps > 0)
            GroupAcrossSteps(order, _batchSize * _accumulation, _lengthGroupedSteps, _lengthOf!, random);
        if (_groupWithinStep)
            GroupByLength(order, _batchSize * _accumulation, _accumulation, _lengthOf!);
        _previous = _current;
        _current = (epoch, order);
        return order;
    }

    /// <summary>
    /// Hugging Face's length grouping in place: each window of <paramref name="steps"/> × <paramref name="stepRows"/>
    /// rows sorted longest first (stably: equal lengths keep their shuffled order) and cut into steps of
    /// <paramref name="stepRows"/> rows, whose order is then shuffled by <paramref name="random"/>. A short last step
    /// (the epoch's rows do not fill it) stays last, so that every other step keeps its boundaries.
    /// </summary>
    internal static void GroupAcrossSteps(int[] order, int stepRows, int steps, Func<int, int> lengthOf, Random random)
    {
        int window = stepRows * steps;
        for (int start = 0; start < order.Length; start += window)
        {
            int size = Math.Min(window, order.Length - start);
            var slice = order.AsSpan(start, size);
            var sorted = slice.ToArray().OrderByDescending(lengthOf).ToArray();
            var chunks = sorted.Chunk(stepRows).ToArray();
            int whole = chunks[^1].Length == stepRows ? chunks.Length : chunks.Length - 1;
            random.Shuffle(chunks.AsSpan(0, whole));
            chunks.SelectMany(c => c).ToArray().CopyTo(slice);
        }
    }

    /// <summary>InternVL's <c>get_length_grouped_indices</c> in place, over mega-batches of <paramref name="megabatch"/> rows.</summary>
    internal static void GroupByLength(int[] order, int megabatch, int chunks, Func<int, int> lengthOf)
    {
        for (int start = 0; start < order.Length; start += megabatch)
        {
            int size = Math.Min(megabatch, order.Length - start);
            var slice = order.AsSpan(start, size);
            // Python's sorted(..., reverse=True) is stable: equal lengths keep their shuffled order.
            var sorted = slice.ToArray().Select(i => (Index: i, Length: lengthOf(i))).OrderByDescending(x => x.Length).ToArray();
            SplitToEvenChunks(sorted, chunks).CopyTo(slice);
        }
    }

    /// <summary>
    /// <c>split_to_even_chunks</c>: when the mega-batch does not divide evenly, a strided split; otherwise each row
    /// (longest first) goes to the chunk with the smallest total length that is not yet full.
    /// </summary>
    private static int[] SplitToEvenChunks((int Index, int Length)[] rows, int chunks)
    {
        var lists = Enumerable.Range(0, chunks).Select(_ => new List<int>()).ToArray();
        if (rows.Length % chunks != 0)
        {
            for (int i = 0; i < rows.Length; i++)
                lists[i % chunks].Add(rows[i].Index);
        }
        else
        {
            int perChunk = rows.Length / chunks;
            var totals = new double[chunks];
            foreach (var (index, length) in rows)
            {
                int shortest = Array.IndexOf(totals, totals.Min()); // the first of equal minima, as list.index(min) finds
                lists[shortest].Add(index);
                totals[shortest] += length;
                if (lists[shortest].Count == perChunk)
                    totals[shortest] = double.PositiveInfinity;
            }
        }
        return lists.SelectMany(l => l).ToArray();
    }
}
