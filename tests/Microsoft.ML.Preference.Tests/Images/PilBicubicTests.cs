using Microsoft.ML.Preference.Images;

namespace Microsoft.ML.Preference.Tests.Images;

public class PilBicubicTests
{
    // Pillow's bicubic kernel (a = -0.5) at the distances these tiny resizes use, by hand:
    //   k(0.25) = (1.5·0.25 − 2.5)·0.25² + 1             = 111/128
    //   k(0.75) = (1.5·0.75 − 2.5)·0.75² + 1             =  29/128
    //   k(1.25) = (((1.25 − 5)·1.25 + 8)·1.25 − 4)·(−0.5) =  −9/128
    //
    // 4 → 2 (scale 2: the kernel is stretched ×2 and the support is 4, so every output reads all 4 inputs):
    //   output 0, centre 1.0: inputs at distances (x + 0.5 − 1)/2 = −0.25, 0.25, 0.75, 1.25 → 111, 111, 29, −9 (/128),
    //   sum 242/128, so weights 111/242, 111/242, 29/242, −9/242; output 1 is the mirror image.
    // 2 → 4 (scale 0.5: the kernel keeps its width, support 2, two inputs each):
    //   centre 0.25: distances 0.25, 1.25 → 111, −9 → 111/102, −9/102
    //   centre 0.75: distances −0.25, 0.75 → 111, 29 → 111/140, 29/140; centres 1.25 and 1.75 mirror these.
    private static readonly double[][] Down4To2 = [[111 / 242.0, 111 / 242.0, 29 / 242.0, -9 / 242.0], [-9 / 242.0, 29 / 242.0, 111 / 242.0, 111 / 242.0]];
    private static readonly int[] Down4To2First = [0, 0];
    private static readonly double[][] Up2To4 = [[111 / 102.0, -9 / 102.0], [111 / 140.0, 29 / 140.0], [29 / 140.0, 111 / 140.0], [-9 / 102.0, 111 / 102.0]];
    private static readonly int[] Up2To4First = [0, 0, 0, 0];

    /// <summary>
    /// One 8-bit pass written out as Pillow does it: weights to 22-bit fixed point rounding half away from zero,
    /// sum from half a unit, integer part clamped to 0..255.
    /// </summary>
    private static byte[] Pass(byte[] src, int width, int height, bool horizontal, double[][] weights, int[] first)
    {
        int outWidth = horizontal ? weights.Length : width, outHeight = horizontal ? height : weights.Length;
        var dst = new byte[outWidth * outHeight * 3];
        for (int y = 0; y < outHeight; y++)
            for (int x = 0; x < outWidth; x++)
                for (int c = 0; c < 3; c++)
                {
                    int o = horizontal ? x : y;
                    int sum = 1 << 21;
                    for (int t = 0; t < weights[o].Length; t++)
                    {
                        int w = (int)Math.Round(weights[o][t] * (1 << 22), MidpointRounding.AwayFromZero);
                        int sx = horizontal ? first[o] + t : x, sy = horizontal ? y : first[o] + t;
                        sum += src[(sy * width + sx) * 3 + c] * w;
                    }
                    dst[(y * outWidth + x) * 3 + c] = (byte)Math.Clamp(sum >> 22, 0, 255);
                }
        return dst;
    }

    [Fact]
    public void Downscale4x4To2x2ByHand()
    {
        var source = VisionTestFiles.PilSource("tiny4x4");
        var horizontal = Pass(source.Pixels.ToArray(), 4, 4, horizontal: true, Down4To2, Down4To2First);
        var expected = Pass(horizontal, 2, 4, horizontal: false, Down4To2, Down4To2First);

        var actual = PilBicubic.Resize(source, 2, 2);
        Assert.Equal(expected, actual.Pixels.ToArray());
        // The checkerboard blue channel overshoots: pixel (0,0) mixes 255s and 0s with a negative lobe.
        Assert.Equal(PilExpected("tiny4x4", 2, 2), actual.Pixels.ToArray());
    }

    [Fact]
    public void Upscale2x2To4x4ByHand()
    {
        var source = VisionTestFiles.PilSource("tiny2x2");
        var horizontal = Pass(source.Pixels.ToArray(), 2, 2, horizontal: true, Up2To4, Up2To4First);
        var expected = Pass(horizontal, 4, 2, horizontal: false, Up2To4, Up2To4First);

        var actual = PilBicubic.Resize(source, 4, 4);
        Assert.Equal(expected, actual.Pixels.ToArray());
        Assert.Equal(PilExpected("tiny2x2", 4, 4), actual.Pixels.ToArray());
        // Overshoot is clipped: 111/102·255 − 9/102·0 > 255 at the green corner.
        Assert.Equal((byte)255, actual[0, 0].G);
    }

    [Fact]
    public void ByHandPassesRoundBetweenPasses()
    {
        // Doing both axes in double and rounding once would differ somewhere: Pillow's bytes need the uint8 middle step.
        var source = VisionTestFiles.PilSource("tiny4x4");
        var once = new byte[2 * 2 * 3];
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++)
                for (int c = 0; c < 3; c++)
                {
                    double v = 0;
                    for (int j = 0; j < 4; j++)
                        for (int i = 0; i < 4; i++)
                            v += Down4To2[y][j] * Down4To2[x][i] * source.Pixels[(j * 4 + i) * 3 + c];
                    once[(y * 2 + x) * 3 + c] = (byte)Math.Clamp(Math.Round(v), 0, 255);
                }
        Assert.Equal(PilExpected("tiny4x4", 2, 2), PilBicubic.Resize(source, 2, 2).Pixels.ToArray());
        Assert.NotEqual(once, PilBicubic.Resize(source, 2, 2).Pixels.ToArray());
    }

    public static IEnumerable<object[]> PilResizeCases() =>
        Enumerable.Range(0, VisionTestFiles.PilRoot.GetProperty("resize").GetArrayLength()).Select(i => new object[] { i });

    [Theory]
    [MemberData(nameof(PilResizeCases))]
    public void MatchesPillowByteForByte(int index)
    {
        var c = VisionTestFiles.PilRoot.GetProperty("resize")[index];
        var source = VisionTestFiles.PilSource(c.GetProperty("source").GetString()!);
        int w = c.GetProperty("width").GetInt32(), h = c.GetProperty("height").GetInt32();
        var actual = PilBicubic.Resize(source, w, h);
        Assert.Equal((w, h), (actual.Width, actual.Height));
        var expected = VisionTestFiles.Bytes(c, "rgb");
        var got = actual.Pixels.ToArray();
        int firstDiff = Enumerable.Range(0, expected.Length).FirstOrDefault(i => expected[i] != got[i], -1);
        Assert.True(firstDiff < 0, $"{c.GetProperty("source")} → {w}x{h}: byte {firstDiff} is {(firstDiff < 0 ? 0 : got[firstDiff])}, Pillow has {(firstDiff < 0 ? 0 : expected[firstDiff])}");
    }

    [Fact]
    public void LargeResizesSplitAcrossThreadsGiveTheSameBytes()
    {
        // Big enough to go parallel; compared with row-by-row resizes of the same data, which stay single-threaded.
        var random = new Random(5);
        var rgb = new byte[900 * 700 * 3];
        random.NextBytes(rgb);
        var image = new RgbImage(900, 700, rgb);
        var big = PilBicubic.Resize(image, 448 * 2, 448);
        for (int y = 0; y < 700; y += 233)
        {
            var strip = new RgbImage(900, 1, rgb.AsSpan(y * 900 * 3, 900 * 3).ToArray());
            var alone = PilBicubic.Resize(strip, 448 * 2, 1);
            var fromBig = PilBicubic.Resize(image, 448 * 2, 700).Crop(new TileBox(0, y, 896, y + 1));
            Assert.Equal(alone.Pixels.ToArray(), fromBig.Pixels.ToArray());
        }
        Assert.Equal((896, 448), (big.Width, big.Height));
    }

    [Fact]
    public void SameSizeIsACopy()
    {
        var source = VisionTestFiles.PilSource("noise37x23");
        Assert.Equal(source.Pixels.ToArray(), PilBicubic.Resize(source, 37, 23).Pixels.ToArray());
    }

    [Fact]
    public void RejectsEmptyTargets()
    {
        var source = VisionTestFiles.PilSource("tiny2x2");
        Assert.Throws<ArgumentOutOfRangeException>(() => PilBicubic.Resize(source, 0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => PilBicubic.Resize(source, 4, -1));
    }

    private static byte[] PilExpected(string source, int width, int height)
    {
        foreach (var c in VisionTestFiles.PilRoot.GetProperty("resize").EnumerateArray())
            if (c.GetProperty("source").GetString() == source && c.GetProperty("width").GetInt32() == width && c.GetProperty("height").GetInt32() == height)
                return VisionTestFiles.Bytes(c, "rgb");
        throw new InvalidOperationException($"pil_reference.json has no {source} → {width}x{height}.");
    }
}
