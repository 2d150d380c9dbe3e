using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Tests.Text;
using Microsoft.ML.Preference.Images;
using SkiaSharp;

namespace Microsoft.ML.Preference.Tests.Images;

/// <summary>
/// Image decoding is bounded: the size is read from the header first, a file above the pixel limit is refused with
/// its size, and a very large one is decoded at a reduced scale (a box average) no smaller than tiling needs.
/// </summary>
public partial class BoundedDecodingTests
{
    /// <summary>
    /// A PNG of four flat quadrants (RGB, 8 bits), written row by row through zlib so that a 20000×20000 file never
    /// exists in memory: a few MB on disk. The generator of the large-image fixture.
    /// </summary>
    internal static void WriteQuadrantPng(string path, int width, int height, byte[][] colours)
    {
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;   // bit depth
        header[9] = 2;   // colour type RGB
        WriteChunk(file, "IHDR", header);
        var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            byte[] Row(byte[] left, byte[] right)
            {
                var row = new byte[1 + width * 3]; // filter type 0 (None), then the samples
                for (int x = 0; x < width; x++)
                    (x < width / 2 ? left : right).CopyTo(row, 1 + x * 3);
                return row;
            }
            // Rows after the first of each half repeat the one above: filter type 2 (Up) makes them all zeros, which
            // deflate shrinks ~1000-fold, so the 1.2 GB of samples become a few MB.
            var repeat = new byte[1 + width * 3];
            repeat[0] = 2;
            var top = Row(colours[0], colours[1]);
            var bottom = Row(colours[2], colours[3]);
            for (int y = 0; y < height; y++)
                zlib.Write(y == 0 ? top : y == height / 2 ? bottom : repeat);
        }
        WriteChunk(file, "IDAT", compressed.ToArray());
        WriteChunk(file, "IEND", []);
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        stream.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(length, Crc32(typeAndData));
        stream.Write(length);
    }

    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    private static readonly byte[][] Quadrants = [[200, 30, 40], [20, 180, 60], [10, 20, 220], [250, 250, 5]];

    [GeneratedRegex(@"decoded as (\d+)x(\d+) .*peak RSS (\d+) MiB")]
    private static partial Regex DecodeLine();

    [Fact]
    public void A20000By20000PngDecodesInBoundedMemory()
    {
        using var dir = new TempFolder();
        var path = Path.Combine(dir.Path, "huge.png");
        WriteQuadrantPng(path, 20000, 20000, Quadrants);
        Assert.True(new FileInfo(path).Length < 8 << 20);
        Assert.Equal((20000, 20000), ImageDecoder.ReadSize(path));

        // In a fresh process, so that its peak RSS is this decode's: `mpo bench decode`, the benchmark command.
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "mpo.dll"), "bench", "decode", "--image", path })
            psi.ArgumentList.Add(arg);
        using var child = Process.Start(psi)!;
        var output = child.StandardOutput.ReadToEnd() + child.StandardError.ReadToEnd();
        child.WaitForExit();
        Assert.True(child.ExitCode == 0, output);
        var m = DecodeLine().Match(output);
        Assert.True(m.Success, output);
        // A square image tiles to 3x3 tiles of 448 (1344 px, InternVL2's 12-tile budget); the largest integer
        // reduction that keeps 1344 is 14: ceil(20000 / 14) = 1429.
        Assert.Equal(1429, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        long peakMiB = long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.True(peakMiB < 512, $"peak RSS {peakMiB} MiB: {output}");

        // The quadrants survive the reduction: corners keep their colours.
        var image = new InternVLImageProcessor(new ImageTilingOptions()).Load(path);
        Assert.Equal((20000, 20000, 1429, 1429), (image.SourceWidth, image.SourceHeight, image.Width, image.Height));
        Assert.Equal((200, 30, 40), ToTuple(image[0, 0]));
        Assert.Equal((250, 250, 5), ToTuple(image[1428, 1428]));
        Assert.Equal(10, new InternVLImageProcessor(new ImageTilingOptions()).Plan(image.SourceWidth, image.SourceHeight).NumTiles);
    }

    private static (int, int, int) ToTuple((byte R, byte G, byte B) p) => (p.R, p.G, p.B);

    [Fact]
    public void AReducedDecodeIsTheBoxAverageOfTheFullDecode()
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(960, 672);
        var path = VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "p.png"), SKEncodedImageFormat.Png);
        var full = ImageDecoder.Load(path);
        // Tile size 112, one tile: the plan resizes to 112x112, so the largest reduction that keeps it is
        // min(960 / 112, 672 / 112) = min(8, 6) = 6: 160x112, every block 6x6.
        var options = new ImageTilingOptions { TileSize = 112, MaxTiles = 1, FullDecodeMaxPixels = 1000 };
        var processor = new InternVLImageProcessor(options);
        var plan = processor.Plan(960, 672);
        Assert.Equal((112, 112), (plan.ResizedWidth, plan.ResizedHeight));
        var reduced = processor.Load(path);
        Assert.Equal((160, 112, 960, 672), (reduced.Width, reduced.Height, reduced.SourceWidth, reduced.SourceHeight));
        for (int oy = 0; oy < reduced.Height; oy += 7)
            for (int ox = 0; ox < reduced.Width; ox += 9)
            {
                double r = 0, g = 0, b = 0;
                for (int y = oy * 6; y < oy * 6 + 6; y++)
                    for (int x = ox * 6; x < ox * 6 + 6; x++)
                    {
                        var p = full[x, y];
                        r += p.R;
                        g += p.G;
                        b += p.B;
                    }
                var got = reduced[ox, oy];
                Assert.Equal(Math.Round(r / 36, MidpointRounding.AwayFromZero), got.R, 0);
                Assert.Equal(Math.Round(g / 36, MidpointRounding.AwayFromZero), got.G, 0);
                Assert.Equal(Math.Round(b / 36, MidpointRounding.AwayFromZero), got.B, 0);
            }
        // Tiles plan from the file's size, so the row's token count does not change with the reduction.
        using (var tiles = processor.ProcessRow([reduced]))
            Assert.Equal(plan.NumTiles, tiles.TilesPerImage[0]);

        // Below the full-decode limit nothing changes: the exact pixels, as PIL decodes them.
        var exact = new InternVLImageProcessor(options with { FullDecodeMaxPixels = 960 * 672 }).Load(path);
        Assert.True(exact.Pixels.SequenceEqual(full.Pixels));
    }

    [Fact]
    public void AnImageAboveThePixelLimitIsABadRowNamingItsSize()
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(64, 48);
        var path = VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "big.png"), SKEncodedImageFormat.Png);
        var processor = new InternVLImageProcessor(new ImageTilingOptions { MaxImagePixels = 3000 });
        var e = Assert.Throws<ImageLoadException>(() => processor.Load(path, 6));
        Assert.Equal(64 * 48, e.Pixels);
        Assert.Contains("big.png", e.Message);
        Assert.Contains("64x48 = 3,072 pixels, above the limit of 3,000", e.Message);

        var bad = Assert.Throws<BadRowException>(() => VisionLanguageModel.DecodeImages([new ImageSource.FromFile(path)], 6, processor));
        Assert.Equal(BadRowReason.ImageTooLarge, bad.Reason);
        Assert.Contains("64x48", bad.Message);
        Assert.Equal(48 * 64, new InternVLImageProcessor(new ImageTilingOptions { MaxImagePixels = 3072 }).Load(path).Pixels.Length / 3);
    }
}
