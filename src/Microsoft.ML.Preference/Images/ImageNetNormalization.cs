namespace Microsoft.ML.Preference.Images;

/// <summary>
/// torchvision's <c>ToTensor()</c> then <c>Normalize(IMAGENET_MEAN, IMAGENET_STD)</c>, InternVL's default
/// <c>normalize_type='imagenet'</c>: value = (byte / 255 − mean[c]) / std[c], channels in RGB order.
/// </summary>
internal static class ImageNetNormalization
{
    /// <summary>ImageNet channel means (R, G, B).</summary>
    public static IReadOnlyList<float> Mean { get; } = [0.485f, 0.456f, 0.406f];

    /// <summary>ImageNet channel standard deviations (R, G, B).</summary>
    public static IReadOnlyList<float> Std { get; } = [0.229f, 0.224f, 0.225f];

    // All 3 × 256 possible results, so a tile costs one table read per sample.
    private static readonly float[] Table = BuildTable();

    /// <summary>The normalised float32 value of byte <paramref name="value"/> in channel <paramref name="channel"/> (0 = R).</summary>
    public static float Normalize(byte value, int channel)
    {
        if ((uint)channel > 2)
            throw new ArgumentOutOfRangeException(nameof(channel), channel, "RGB has channels 0, 1 and 2.");
        return Table[channel * 256 + value];
    }

    /// <summary>The 768-entry table, channel-major.</summary>
    internal static ReadOnlySpan<float> LookupTable => Table;

    private static float[] BuildTable()
    {
        var table = new float[3 * 256];
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++)
                // float32 step by step, as torch does: (float)v / 255, minus the float32 mean, over the float32 std.
                table[c * 256 + v] = ((float)v / 255f - Mean[c]) / Std[c];
        return table;
    }
}
