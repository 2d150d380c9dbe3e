using System.Runtime.InteropServices;
using TorchSharp;

namespace Microsoft.ML.Preference.Images;

/// <summary>
/// Writes one tile of an <see cref="RgbImage"/> into one [3, S, S] slice of a CPU float32 tensor: channel planes
/// (CHW, as ToTensor permutes HWC), ImageNet-normalised. Goes straight into the tensor's storage, so a tile costs
/// no managed float buffer.
/// </summary>
internal static class TileTensorWriter
{
    /// <summary>Fills <paramref name="tile"/> ([3, S, S], contiguous, CPU, float32) from <paramref name="box"/> of <paramref name="image"/>.</summary>
    public static void Write(RgbImage image, TileBox box, torch.Tensor tile)
    {
        int size = box.Width;
        if (box.Height != size || tile.numel() != 3L * size * size)
            throw new InvalidOperationException($"Internal error: box {box} does not fill a tile of {tile.numel()} values.");
        if (box.Left < 0 || box.Upper < 0 || box.Right > image.Width || box.Lower > image.Height)
            throw new InvalidOperationException($"Internal error: box {box} lies outside the {image.Width}x{image.Height} image.");

        Span<float> planes = MemoryMarshal.Cast<byte, float>(tile.bytes);
        ReadOnlySpan<float> lut = ImageNetNormalization.LookupTable;
        ReadOnlySpan<float> red = lut[..256], green = lut[256..512], blue = lut[512..];
        byte[] src = image.Buffer;
        int plane = size * size;
        var r = planes[..plane];
        var g = planes.Slice(plane, plane);
        var b = planes.Slice(2 * plane, plane);
        for (int y = 0; y < size; y++)
        {
            var row = src.AsSpan(((box.Upper + y) * image.Width + box.Left) * 3, size * 3);
            int o = y * size;
            for (int x = 0; x < size; x++)
            {
                r[o + x] = red[row[x * 3]];
                g[o + x] = green[row[x * 3 + 1]];
                b[o + x] = blue[row[x * 3 + 2]];
            }
        }
    }
}
