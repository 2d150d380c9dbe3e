using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Runtime;

public class HugePagesTests
{
    private const long MiB = 1L << 20;

    [Theory]
    // An aligned range of 3 huge pages: all of it.
    [InlineData(4 * MiB, 6 * MiB, 4 * MiB, 6 * MiB)]
    // Starts 1 MiB into a page and ends 1 MiB into another: only the 2 whole pages between.
    [InlineData(5 * MiB, 6 * MiB, 6 * MiB, 4 * MiB)]
    // Smaller than a page, or a range that straddles one boundary without covering a page: nothing.
    [InlineData(0, 1 * MiB, 0, 0)]
    [InlineData(3 * MiB, 2 * MiB, 4 * MiB, 0)]
    // Exactly one page from an odd start (a malloc'd block): the page inside, if any; here none.
    [InlineData(2 * MiB + 64, 2 * MiB, 4 * MiB, 0)]
    [InlineData(2 * MiB + 64, 4 * MiB, 4 * MiB, 2 * MiB)]
    public void AdvisesOnlyWholePagesInsideTheRange(long start, long bytes, long expectedStart, long expectedLength)
    {
        var (first, length) = HugePages.WholePages(start, bytes);
        Assert.Equal(expectedLength, length);
        if (length > 0)
            Assert.Equal(expectedStart, first);
        Assert.True(first >= start && first + length <= start + bytes);
    }

    [Fact]
    public void AdvisingMemoryKeepsItsContents()
    {
        using var scope = torch.NewDisposeScope();
        var tensor = torch.arange(3 * MiB, dtype: torch.ScalarType.Int32);
        HugePages.Advise(TensorBytes.Address(tensor), tensor.numel() * 4);
        Assert.Equal(0, tensor[0].item<int>());
        Assert.Equal(3 * MiB - 1, tensor[-1].item<int>());
        Assert.Equal((3 * MiB - 1) * 3 * MiB / 2, tensor.to(torch.ScalarType.Int64).sum().item<long>());
    }
}
