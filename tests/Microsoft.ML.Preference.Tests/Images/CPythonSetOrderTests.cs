using Microsoft.ML.Preference.Images;

namespace Microsoft.ML.Preference.Tests.Images;

public class CPythonSetOrderTests
{
    [Theory]
    // hash(t) % 2**64 printed by CPython 3.11.2 (64-bit).
    [InlineData(1, 1, 8389048192121911274UL)]
    [InlineData(1, 2, 14896688948223909699UL)]
    [InlineData(2, 1, 6794810172467074373UL)]
    [InlineData(12, 1, 10539077331064062723UL)]
    [InlineData(0, 0, 9988604870027030631UL)]
    [InlineData(1000, 7, 13013801324567323274UL)]
    public void TupleHashIsCPythons(int a, int b, ulong expected) => Assert.Equal(expected, CPythonSetOrder.TupleHash(a, b));

    [Fact]
    public void IterationOrderIsTheInterpretersForEveryRecordedRange()
    {
        foreach (var (min, max, order) in VisionTestFiles.CPythonSetOrders())
        {
            // Upstream's generator, duplicates and all: the replay must ignore re-added keys as a set does.
            var keys = new List<(int, int)>();
            for (int n = min; n <= max; n++)
                for (int i = 1; i <= n; i++)
                    for (int j = 1; j <= n; j++)
                        if (i * j <= max && i * j >= min)
                            keys.Add((i, j));
            Assert.Equal(order, CPythonSetOrder.IterationOrder(keys).Select(k => (k.A, k.B)).ToArray());
        }
    }

    [Fact]
    public void DuplicatesDoNotChangeTheOrder()
    {
        (int, int)[] keys = [(3, 1), (1, 3), (2, 2), (1, 1), (4, 1), (1, 4)];
        var once = CPythonSetOrder.IterationOrder(keys);
        var twice = CPythonSetOrder.IterationOrder(keys.Concat(keys).Concat(keys.Reverse()));
        Assert.Equal(once, twice);
        Assert.Equal(keys.Length, once.Count);
    }
}
