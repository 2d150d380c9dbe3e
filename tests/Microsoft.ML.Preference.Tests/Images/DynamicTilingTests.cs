using System.Text.Json;
using Microsoft.ML.Preference.Images;

namespace Microsoft.ML.Preference.Tests.Images;

public class DynamicTilingTests
{
    public static IEnumerable<object[]> CaseIndices() => Enumerable.Range(0, VisionTestFiles.TilingCaseCount).Select(i => new object[] { i });

    [Fact]
    public void TheFixtureHasItsFortyFourCases() => Assert.Equal(44, VisionTestFiles.TilingCaseCount);

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void MatchesInternVLsPlan(int index)
    {
        var c = VisionTestFiles.TilingCase(index);
        var plan = DynamicTiling.Plan(
            c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32(),
            c.GetProperty("min_num").GetInt32(), c.GetProperty("max_num").GetInt32(),
            c.GetProperty("image_size").GetInt32(), c.GetProperty("use_thumbnail").GetBoolean());
        string why = $"case {index}: {c.GetProperty("note").GetString()}";

        Assert.True(c.GetProperty("cols").GetInt32() == plan.Cols && c.GetProperty("rows").GetInt32() == plan.Rows,
            $"{why}: grid {plan.Grid}, expected {c.GetProperty("cols")}x{c.GetProperty("rows")}");
        Assert.Equal(c.GetProperty("blocks").GetInt32(), plan.Blocks);
        Assert.Equal(c.GetProperty("num_tiles").GetInt32(), plan.NumTiles);
        var resized = c.GetProperty("resized_size");
        Assert.Equal((resized[0].GetInt32(), resized[1].GetInt32()), (plan.ResizedWidth, plan.ResizedHeight));
        var boxes = c.GetProperty("boxes").EnumerateArray()
            .Select(b => new TileBox(b[0].GetInt32(), b[1].GetInt32(), b[2].GetInt32(), b[3].GetInt32())).ToArray();
        Assert.Equal(boxes, plan.Boxes);
        var thumbnail = c.GetProperty("thumbnail");
        Assert.Equal(thumbnail.ValueKind != JsonValueKind.Null, plan.HasThumbnail);
        if (plan.HasThumbnail)
        {
            var to = thumbnail.GetProperty("to_size");
            Assert.Equal((plan.TileSize, plan.TileSize), (to[0].GetInt32(), to[1].GetInt32()));
        }
    }

    [Fact]
    public void CandidateOrderIsTheFixturesForEveryRangeItLists()
    {
        foreach (var range in VisionTestFiles.TilingRoot.GetProperty("meta").GetProperty("candidate_grid_order").EnumerateObject())
        {
            var parts = range.Name.Split('-');
            var expected = range.Value.EnumerateArray().Select(g => new TileGrid(g[0].GetInt32(), g[1].GetInt32())).ToArray();
            Assert.Equal(expected, DynamicTiling.CandidateGrids(int.Parse(parts[0]), int.Parse(parts[1])));
        }
    }

    [Fact]
    public void CandidateOrderIsCPythonsSortedSetForEveryRangeRecorded()
    {
        // cpython_set_order.txt is the raw set iteration order from a real interpreter; InternVL sorts it stably by product.
        int ranges = 0;
        foreach (var (min, max, order) in VisionTestFiles.CPythonSetOrders())
        {
            var expected = order.Select(t => new TileGrid(t.Item1, t.Item2)).OrderBy(g => g.Blocks).ToArray();
            Assert.Equal(expected, DynamicTiling.CandidateGrids(min, max));
            ranges++;
        }
        Assert.Equal(400, ranges);   // all 1 ≤ min ≤ max ≤ 24, min 1..4 with max 25..48, and four big ranges
    }

    [Fact]
    public void OrderSensitiveCasesNeedCPythonsOrder()
    {
        // 500x400 with min = max = 2: (1,2) and (2,1) tie at |1.25 - 0.5| = |1.25 - 2| = 0.75; (1,2) comes first in
        // CPython's set and the area test (200000 > 0.5*448²*2 = 200704) fails, so the portrait grid stays.
        Assert.Equal([new TileGrid(1, 2), new TileGrid(2, 1)], DynamicTiling.CandidateGrids(2, 2));
        Assert.Equal(new TileGrid(1, 2), DynamicTiling.ClosestGrid(500, 400, 2, 2, 448));
        // 1000x800 passes the area test, so the tie moves on to (2,1).
        Assert.Equal(new TileGrid(2, 1), DynamicTiling.ClosestGrid(1000, 800, 2, 2, 448));
    }

    [Fact]
    public void SquareTiesMoveToBiggerGridsOnlyAboveHalfTheirArea()
    {
        // (2,2) from area > 2·S², (3,3) from area > 4.5·S² (S = 448: 633² < 401408 < 634²; 950² < 903168 < 951²).
        Assert.Equal(new TileGrid(1, 1), DynamicTiling.ClosestGrid(633, 633, 1, 12, 448));
        Assert.Equal(new TileGrid(2, 2), DynamicTiling.ClosestGrid(634, 634, 1, 12, 448));
        Assert.Equal(new TileGrid(2, 2), DynamicTiling.ClosestGrid(950, 950, 1, 12, 448));
        Assert.Equal(new TileGrid(3, 3), DynamicTiling.ClosestGrid(951, 951, 1, 12, 448));
    }

    [Fact]
    public void NoCandidateGivesOneTileAsUpstream()
    {
        // min > max (a multi-image budget below min_dynamic_patch): upstream's set is empty and (1, 1) stays.
        Assert.Empty(DynamicTiling.CandidateGrids(4, 2));
        var plan = DynamicTiling.Plan(1920, 1080, 4, 2, 448, useThumbnail: true);
        Assert.Equal(new TileGrid(1, 1), plan.Grid);
        Assert.False(plan.HasThumbnail);
        Assert.Equal(1, plan.NumTiles);
    }

    [Fact]
    public void ThumbnailOnlyWithMoreThanOneTile()
    {
        Assert.False(DynamicTiling.Plan(448, 448, 1, 12, 448, true).HasThumbnail);
        Assert.True(DynamicTiling.Plan(896, 448, 1, 12, 448, true).HasThumbnail);
        Assert.False(DynamicTiling.Plan(896, 448, 1, 12, 448, false).HasThumbnail);
    }

    [Fact]
    public void LargeBudgetsStayCheap()
    {
        var grids = DynamicTiling.CandidateGrids(1, DynamicTiling.MaxSupportedTiles);
        int expected = 0;
        for (int c = 1; c <= DynamicTiling.MaxSupportedTiles; c++)
            expected += DynamicTiling.MaxSupportedTiles / c;
        Assert.Equal(expected, grids.Count);
        Assert.Equal(grids.Count, grids.Distinct().Count());
        Assert.True(grids.Zip(grids.Skip(1)).All(p => p.First.Blocks <= p.Second.Blocks));
    }

    [Fact]
    public void RejectsNonsense()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DynamicTiling.Plan(0, 10, 1, 12, 448, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => DynamicTiling.Plan(10, -1, 1, 12, 448, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => DynamicTiling.Plan(10, 10, 0, 12, 448, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => DynamicTiling.Plan(10, 10, 1, 0, 448, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => DynamicTiling.Plan(10, 10, 1, DynamicTiling.MaxSupportedTiles + 1, 448, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => DynamicTiling.Plan(10, 10, 1, 12, 0, true));
        Assert.Throws<OverflowException>(() => DynamicTiling.Plan(int.MaxValue, 1, 1, 12, int.MaxValue / 2, true));
    }
}
