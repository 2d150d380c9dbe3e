using System.Collections.Concurrent;

namespace Microsoft.ML.Preference.Images;

/// <summary>
/// InternVL's dynamic high-resolution tiling (<c>find_closest_aspect_ratio</c> and <c>dynamic_preprocess</c> of
/// internvl_chat/internvl/train/dataset.py, also the HF model cards' <c>load_image</c>), reproduced decision for decision.
/// </summary>
/// <remarks>
/// The grid is the candidate whose cols/rows is closest to width/height (float64, as Python). Candidates are scanned
/// by cols·rows ascending; an exactly equal distance moves to the later candidate only when the image has more than
/// half that candidate's pixel count (width·height &gt; 0.5·S²·cols·rows). Grids of equal product come in CPython's
/// set iteration order (see <see cref="CPythonSetOrder"/>), which can matter when <c>minTiles</c> &gt; 1.
/// </remarks>
internal static class DynamicTiling
{
    /// <summary>The largest <c>maxTiles</c> accepted: far above any InternVL setting (6 to 40), and it bounds the work.</summary>
    public const int MaxSupportedTiles = 1024;

    private static readonly ConcurrentDictionary<(int, int), TileGrid[]> CandidateCache = new();

    /// <summary>
    /// The candidate grids (min ≤ cols·rows ≤ max) in the order InternVL scans them: by cols·rows ascending, equal
    /// products in CPython's set iteration order. Empty when <paramref name="minTiles"/> &gt; <paramref name="maxTiles"/>.
    /// </summary>
    public static IReadOnlyList<TileGrid> CandidateGrids(int minTiles, int maxTiles)
    {
        ValidateTileRange(minTiles, maxTiles);
        return CandidateCache.GetOrAdd((minTiles, maxTiles), static k =>
            CPythonSetOrder.IterationOrder(SetInsertions(k.Item1, k.Item2))
                .Select(t => new TileGrid(t.A, t.B))
                .OrderBy(g => g.Blocks)   // LINQ's OrderBy is stable, like Python's sorted
                .ToArray());
    }

    /// <summary>
    /// InternVL's <c>find_closest_aspect_ratio</c>: the grid for a <paramref name="width"/>×<paramref name="height"/>
    /// image; (1, 1) when there is no candidate (min &gt; max), as upstream.
    /// </summary>
    public static TileGrid ClosestGrid(int width, int height, int minTiles, int maxTiles, int tileSize)
    {
        ValidateImage(width, height, tileSize);
        double aspect = (double)width / height;
        // width·height is compared exactly in Python (int vs float); as a double it is exact below 2^53.
        double area = (double)((long)width * height);
        double bestDiff = double.PositiveInfinity;
        var best = new TileGrid(1, 1);
        foreach (var grid in CandidateGrids(minTiles, maxTiles))
        {
            double diff = Math.Abs(aspect - (double)grid.Cols / grid.Rows);
            if (diff < bestDiff)
            {
                bestDiff = diff;
                best = grid;
            }
            else if (diff == bestDiff && area > 0.5 * tileSize * tileSize * grid.Cols * grid.Rows)
            {
                // Upstream moves the grid but keeps bestDiff; with equal diffs that is the same value anyway.
                best = grid;
            }
        }
        return best;
    }

    /// <summary>InternVL's <c>dynamic_preprocess</c> as a plan: the grid, the resize, the crop boxes and the thumbnail.</summary>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="minTiles">InternVL's <c>min_num</c> (<c>min_dynamic_patch</c>).</param>
    /// <param name="maxTiles">InternVL's <c>max_num</c> (<c>max_dynamic_patch</c>, or the per-image budget of a multi-image row, see <see cref="TileBudget"/>).</param>
    /// <param name="tileSize">The tile side S (<c>force_image_size</c>).</param>
    /// <param name="useThumbnail">Whether a thumbnail follows multi-tile images.</param>
    public static TilingPlan Plan(int width, int height, int minTiles, int maxTiles, int tileSize, bool useThumbnail)
    {
        var grid = ClosestGrid(width, height, minTiles, maxTiles, tileSize);
        checked
        {
            _ = grid.Cols * tileSize;   // the resized size must fit an int
            _ = grid.Rows * tileSize;
        }
        var boxes = new TileBox[grid.Blocks];
        for (int i = 0; i < boxes.Length; i++)
        {
            int col = i % grid.Cols, row = i / grid.Cols;
            boxes[i] = new TileBox(col * tileSize, row * tileSize, (col + 1) * tileSize, (row + 1) * tileSize);
        }
        return new TilingPlan
        {
            SourceWidth = width,
            SourceHeight = height,
            Grid = grid,
            TileSize = tileSize,
            Boxes = boxes,
            HasThumbnail = useThumbnail && boxes.Length != 1,
        };
    }

    /// <summary>
    /// The distinct keys of upstream's generator <c>(i, j) for n in range(min, max+1) for i in 1..n for j in 1..n
    /// if min ≤ i·j ≤ max</c>, in the order they first appear. Re-adding a key leaves a Python set unchanged, so
    /// only first appearances shape the table; (i, j) first appears at n = max(min, i, j), in (i, j) order within n.
    /// Enumerating them directly costs O(max·log max) rather than upstream's O(max³).
    /// </summary>
    private static IEnumerable<(int, int)> SetInsertions(int min, int max)
    {
        if (min > max)
            yield break;
        // The first n contributes every pair with both sides ≤ min.
        for (int i = 1; i <= min; i++)
            for (int j = 1; j <= min; j++)
                if (InRange(i, j))
                    yield return (i, j);
        // Each later n adds the pairs with a side equal to n, in (i, j) order: (i, n) for i < n, then (n, j).
        for (int n = min + 1; n <= max; n++)
        {
            for (int i = 1; i < n && (long)i * n <= max; i++)
                if (InRange(i, n))
                    yield return (i, n);
            for (int j = 1; j <= n && (long)n * j <= max; j++)
                if (InRange(n, j))
                    yield return (n, j);
        }

        bool InRange(int a, int b) => (long)a * b >= min && (long)a * b <= max;
    }

    internal static void ValidateTileRange(int minTiles, int maxTiles)
    {
        if (minTiles < 1)
            throw new ArgumentOutOfRangeException(nameof(minTiles), minTiles, "The fewest tiles must be at least 1.");
        if (maxTiles < 1 || maxTiles > MaxSupportedTiles)
            throw new ArgumentOutOfRangeException(nameof(maxTiles), maxTiles, $"The most tiles must be between 1 and {MaxSupportedTiles}.");
    }

    private static void ValidateImage(int width, int height, int tileSize)
    {
        if (width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(width < 1 ? nameof(width) : nameof(height), $"An image of {width}x{height} pixels has nothing to tile.");
        if (tileSize < 1)
            throw new ArgumentOutOfRangeException(nameof(tileSize), tileSize, "The tile size must be at least 1.");
    }
}
