namespace Microsoft.ML.Preference.Images;

/// <summary>
/// The filter taps of one axis of Pillow's resize (libImaging/Resample.c: <c>precompute_coeffs</c> with the
/// BICUBIC filter, then <c>normalize_coeffs_8bpc</c>). Each output position reads <see cref="Count"/> consecutive
/// inputs from <see cref="First"/> with fixed-point weights.
/// </summary>
/// <remarks>
/// Every expression keeps Pillow's order of floating-point operations (double precision, no fused multiply-add),
/// so the rounded 22-bit weights, and hence the output bytes, are Pillow's.
/// </remarks>
internal sealed class ResampleCoefficients
{
    /// <summary>Fraction bits of the fixed-point weights: 32 − 8 − 2, leaving room for negative lobes and overshoot.</summary>
    public const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Pillow's BICUBIC support: the filter is zero from |x| = 2 on.</summary>
    private const double BicubicSupport = 2.0;

    private ResampleCoefficients(int kernelSize, int[] first, int[] count, int[] weights)
    {
        KernelSize = kernelSize;
        First = first;
        Count = count;
        Weights = weights;
    }

    /// <summary>Weights stored per output position (the most any position uses).</summary>
    public int KernelSize { get; }

    /// <summary>First input index each output position reads.</summary>
    public int[] First { get; }

    /// <summary>How many inputs each output position reads.</summary>
    public int[] Count { get; }

    /// <summary>Fixed-point weights, <see cref="KernelSize"/> per output position.</summary>
    public int[] Weights { get; }

    /// <summary>Taps for resizing an axis of <paramref name="inSize"/> pixels (the whole axis) to <paramref name="outSize"/>.</summary>
    public static ResampleCoefficients Bicubic(int inSize, int outSize)
    {
        // Pillow passes the box as floats: (double)(in1 - in0) with in0 = 0f, in1 = (float)inSize.
        double scale = (double)((float)inSize - 0f) / outSize;
        // Downscaling stretches the filter by the scale (antialiasing); upscaling keeps it as is.
        double filterScale = scale < 1.0 ? 1.0 : scale;
        double support = BicubicSupport * filterScale;
        int kernelSize = checked((int)Math.Ceiling(support) * 2 + 1);

        var first = new int[outSize];
        var count = new int[outSize];
        var weights = new int[checked(outSize * kernelSize)];
        var taps = new double[kernelSize];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = 0.0 + (xx + 0.5) * scale;
            double ww = 0.0;
            double ss = 1.0 / filterScale;
            // (int) truncates toward zero, as C does; negative starts are clamped just after.
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0)
                xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize)
                xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++)
            {
                double w = BicubicFilter((x + xmin - center + 0.5) * ss);
                taps[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++)
            {
                if (ww != 0.0)
                    taps[x] /= ww;
                // normalize_coeffs_8bpc: round half away from zero to 22 fraction bits.
                weights[xx * kernelSize + x] = taps[x] < 0
                    ? (int)(-0.5 + taps[x] * (1 << PrecisionBits))
                    : (int)(0.5 + taps[x] * (1 << PrecisionBits));
            }
            first[xx] = xmin;
            count[xx] = xmax;
        }
        return new ResampleCoefficients(kernelSize, first, count, weights);
    }

    /// <summary>Keys' cubic convolution with a = −0.5, written exactly as Pillow's <c>bicubic_filter</c>.</summary>
    internal static double BicubicFilter(double x)
    {
        const double a = -0.5;
        if (x < 0.0)
            x = -x;
        if (x < 1.0)
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0)
            return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }
}
