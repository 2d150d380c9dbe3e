using System.Runtime.InteropServices;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>
/// Asks Linux to back a range of fresh memory with 2 MiB transparent huge pages (<c>madvise(MADV_HUGEPAGE)</c>), for
/// memory about to be written once in full: a model's weights copied out of a checkpoint. Each 4 KiB page is a page
/// fault on first write, and on this project's virtual machines a fault costs about 8 µs: 4.4 GB of InternVL2-2B
/// weights took 1.4 million faults and 10 s to copy, 4.0-4.3 s with huge pages (docs/experiments/real-sizes.md).
/// </summary>
/// <remarks>
/// Only the whole 2 MiB-aligned blocks inside the range are advised, so nothing outside the caller's memory changes.
/// It does nothing off Linux, where transparent huge pages are off (<c>never</c>), or when the call fails: the advice
/// changes speed, never results. libtorch's own switch (<c>THP_MEM_ALLOC_ENABLE=1</c>) does this for every allocation
/// of 2 MiB or more but also page-aligns every small one, which this package does not impose on its users.
/// </remarks>
internal static partial class HugePages
{
    /// <summary>The huge page size on x86-64 and most arm64 kernels.</summary>
    public const long Size = 2L << 20;

    private const int MadvHugePage = 14;

    /// <summary>Advises the whole huge pages inside [<paramref name="start"/>, <paramref name="start"/> + <paramref name="bytes"/>).</summary>
    public static void Advise(nint start, long bytes)
    {
        var (first, length) = WholePages(start, bytes);
        if (!OperatingSystem.IsLinux() || length == 0)
            return;
        try
        {
            madvise((nint)first, (nuint)length, MadvHugePage);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No libc madvise (not glibc or musl): the copy is only slower.
        }
    }

    /// <summary>The 2 MiB-aligned start and length of the whole huge pages inside a range (length 0 when there is none).</summary>
    internal static (long Start, long Length) WholePages(long start, long bytes)
    {
        long first = (start + Size - 1) & ~(Size - 1);
        long end = (start + bytes) & ~(Size - 1);
        return end > first ? (first, end - first) : (first, 0);
    }

    [LibraryImport("libc")]
    private static partial int madvise(nint address, nuint length, int advice);
}
