using TorchSharp;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// Moves raw bytes between native memory (a memory-mapped file) or a stream and the native storage of a
/// CPU tensor, without a managed array of the tensor's size in between.
/// </summary>
/// <remarks>
/// TorchSharp exposes a tensor's memory as <see cref="torch.Tensor.bytes"/>, a <see cref="Span{T}"/>, which
/// cannot describe more than 2^31 - 1 bytes. Large tensors (a 150k x 4096 float32 embedding is 2.4 GB) are
/// therefore walked in chunks: each chunk is a <c>narrow</c> view of the flattened tensor, and the span of
/// a view points at the view's own first element.
/// </remarks>
internal static class TensorBytes
{
    /// <summary>
    /// Bytes per chunk: well under the span limit, large enough that the per-chunk cost is nil, small enough that a
    /// large tensor's copy is shared among threads.
    /// </summary>
    internal const long ChunkBytes = 64L << 20;

    /// <summary>
    /// Copies <paramref name="byteCount"/> bytes from native memory at <paramref name="source"/> into a CPU, contiguous
    /// tensor, in chunks of <paramref name="chunkBytes"/> spread over <paramref name="threads"/> threads (libtorch's
    /// thread count when null): a copy out of a memory-mapped file is mostly page faults, which the kernel serves
    /// on several cores at once (two threads cut a 4.4 GB copy from 4.0-4.3 s to 2.4-2.7 s here).
    /// </summary>
    public static unsafe void CopyFrom(nint source, long byteCount, torch.Tensor destination, long chunkBytes = ChunkBytes, int? threads = null)
    {
        long elementSize = destination.element_size();
        long elements = destination.numel();
        if (elements * elementSize != byteCount)
            throw new InvalidOperationException($"Internal error: {byteCount} bytes do not fill a tensor of {elements} x {elementSize} bytes.");
        if (elements == 0)
            return;
        using var flat = destination.view(-1);
        long perChunk = Math.Max(1, chunkBytes / elementSize);
        long chunks = (elements + perChunk - 1) / perChunk;
        int degree = (int)Math.Min(chunks, Math.Max(1, threads ?? torch.get_num_threads()));
        void CopyChunk(long index)
        {
            long start = index * perChunk;
            long count = Math.Min(perChunk, elements - start);
            using var chunk = flat.narrow(0, start, count);
            var target = chunk.bytes;
            new ReadOnlySpan<byte>((byte*)source + start * elementSize, target.Length).CopyTo(target);
        }
        if (degree == 1)
        {
            for (long i = 0; i < chunks; i++)
                CopyChunk(i);
            return;
        }
        Parallel.For(0L, chunks, new ParallelOptions { MaxDegreeOfParallelism = degree }, CopyChunk);
    }

    /// <summary>The address of the first byte of a CPU, contiguous, non-empty tensor (TorchSharp 0.107 has no data_ptr).</summary>
    public static unsafe nint Address(torch.Tensor tensor)
    {
        using var flat = tensor.view(-1);
        using var first = flat.narrow(0, 0, 1);
        fixed (byte* start = first.bytes)
            return (nint)start;
    }

    /// <summary>Writes the bytes of a CPU, contiguous tensor to <paramref name="stream"/>, little-endian as stored.</summary>
    public static void WriteTo(torch.Tensor source, Stream stream, long chunkBytes = ChunkBytes)
    {
        long elements = source.numel();
        if (elements == 0)
            return;
        long elementSize = source.element_size();
        using var flat = source.view(-1);
        long perChunk = Math.Max(1, chunkBytes / elementSize);
        for (long start = 0; start < elements; start += perChunk)
        {
            long count = Math.Min(perChunk, elements - start);
            using var chunk = flat.narrow(0, start, count);
            stream.Write(chunk.bytes);
        }
    }
}
