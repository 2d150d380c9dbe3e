namespace Microsoft.ML.Preference.Images;

/// <summary>
/// Pillow's <c>Image.resize(size, Image.BICUBIC)</c> for RGB images, byte for byte (the default filter that InternVL's
/// <c>dynamic_preprocess</c> and its <c>T.Resize(..., BICUBIC)</c> get).
/// </summary>
/// <remarks>
/// Pillow resizes by separable convolution (libImaging/Resample.c, <c>ImagingResampleInner</c>): a horizontal pass
/// over only the source rows the vertical pass will read, rounded and clipped to bytes, then a vertical pass over
/// that, rounded and clipped again. A pass whose axis keeps its size is skipped; same size on both axes is a copy.
/// Weights are 22-bit fixed point and each sum starts at half a unit, so the results are exact integers that
/// any faithful port reproduces.
/// </remarks>
internal static class PilBicubic
{
    /// <summary>Multiply-adds below which a pass stays on one thread (there, scheduling costs more than it saves).</summary>
    private const long ParallelWorkThreshold = 1 << 18;

    /// <summary>The image resized to <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static RgbImage Resize(RgbImage source, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(width < 1 ? nameof(width) : nameof(height), $"Cannot resize to {width}x{height}.");
        if ((long)width * height * 3 > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(width), $"A {width}x{height} image is too large.");
        if (width == source.Width && height == source.Height)
            return source;   // Pillow returns a copy; RgbImage is immutable, so the same pixels do.

        var vertical = ResampleCoefficients.Bicubic(source.Height, height);
        // Source rows the vertical pass reads: the horizontal pass computes only these.
        int firstRow = vertical.First[0];
        int lastRow = vertical.First[height - 1] + vertical.Count[height - 1];

        byte[] stage = source.Buffer;
        int stageWidth = source.Width;
        int rowShift = 0;
        if (width != source.Width)
        {
            var horizontal = ResampleCoefficients.Bicubic(source.Width, width);
            stage = new byte[checked(width * (lastRow - firstRow) * 3)];
            Horizontal(source.Buffer, source.Width, firstRow, lastRow - firstRow, horizontal, stage, width);
            stageWidth = width;
            rowShift = firstRow;
        }
        if (height == source.Height)
            return new RgbImage(width, height, stage);   // lastRow - firstRow == height here: nothing was cut

        var output = new byte[width * height * 3];
        Vertical(stage, stageWidth, rowShift, vertical, output, height);
        return new RgbImage(width, height, output);
    }

    /// <summary>One horizontal pass: <paramref name="rows"/> rows from <paramref name="firstRow"/> of the source.</summary>
    private static void Horizontal(byte[] src, int srcWidth, int firstRow, int rows, ResampleCoefficients c, byte[] dst, int dstWidth)
    {
        int srcStride = srcWidth * 3, dstStride = dstWidth * 3;
        void Row(int yy)
        {
            var s = src.AsSpan((firstRow + yy) * srcStride, srcStride);
            var d = dst.AsSpan(yy * dstStride, dstStride);
            for (int xx = 0; xx < dstWidth; xx++)
            {
                int xmin = c.First[xx], n = c.Count[xx];
                var k = c.Weights.AsSpan(xx * c.KernelSize, n);
                int s0 = 1 << (ResampleCoefficients.PrecisionBits - 1), s1 = s0, s2 = s0;
                var px = s.Slice(xmin * 3, n * 3);
                for (int x = 0; x < n; x++)
                {
                    s0 += px[x * 3] * k[x];
                    s1 += px[x * 3 + 1] * k[x];
                    s2 += px[x * 3 + 2] * k[x];
                }
                d[xx * 3] = Clip8(s0);
                d[xx * 3 + 1] = Clip8(s1);
                d[xx * 3 + 2] = Clip8(s2);
            }
        }
        Run(rows, (long)rows * dstWidth * c.KernelSize, Row);
    }

    /// <summary>One vertical pass into <paramref name="dstHeight"/> rows; source row indices are shifted by <paramref name="rowShift"/>.</summary>
    private static void Vertical(byte[] src, int width, int rowShift, ResampleCoefficients c, byte[] dst, int dstHeight)
    {
        int stride = width * 3;
        void Row(int yy)
        {
            int ymin = c.First[yy] - rowShift, n = c.Count[yy];
            var k = c.Weights.AsSpan(yy * c.KernelSize, n);
            var d = dst.AsSpan(yy * stride, stride);
            // Per sample: the same additions in the same order (y ascending) as Pillow's loop, so the same sums.
            for (int i = 0; i < stride; i++)
            {
                int sum = 1 << (ResampleCoefficients.PrecisionBits - 1);
                int offset = ymin * stride + i;
                for (int y = 0; y < n; y++, offset += stride)
                    sum += src[offset] * k[y];
                d[i] = Clip8(sum);
            }
        }
        Run(dstHeight, (long)dstHeight * width * c.KernelSize, Row);
    }

    /// <summary>Pillow's <c>clip8</c>: the integer part of the fixed-point sum, clamped to 0..255.</summary>
    private static byte Clip8(int sum)
    {
        int v = sum >> ResampleCoefficients.PrecisionBits;   // arithmetic shift: floor, as the C lookup table does
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>Rows are independent, so big passes split across cores without changing a byte.</summary>
    private static void Run(int rows, long work, Action<int> row)
    {
        if (work < ParallelWorkThreshold || Environment.ProcessorCount == 1)
        {
            for (int y = 0; y < rows; y++)
                row(y);
        }
        else
        {
            Parallel.For(0, rows, row);
        }
    }
}
