using Microsoft.ML.Data;
using Microsoft.ML.Preference.Tests.Text;
using Microsoft.ML.Preference.Images;
using SkiaSharp;

namespace Microsoft.ML.Preference.Tests.Images;

public class ImageDecoderTests
{
    public static IEnumerable<object[]> DecodeCases() =>
        VisionTestFiles.PilRoot.GetProperty("decode").EnumerateArray().Select(c => new object[] { c.GetProperty("file").GetString()! });

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void DecodesAsPillowsConvertRgb(string file)
    {
        // PNG (RGB, RGBA with every alpha, grey, grey+alpha, palette with a transparent index) and JPEG (4:2:0, 4:4:4,
        // progressive, grey), all written by Pillow; expected = Image.open(f).convert('RGB').tobytes().
        var c = VisionTestFiles.PilRoot.GetProperty("decode").EnumerateArray().Single(e => e.GetProperty("file").GetString() == file);
        var image = ImageDecoder.Load(Path.Combine(VisionTestFiles.VisionFolder, file));
        Assert.Equal((c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32()), (image.Width, image.Height));
        var expected = VisionTestFiles.Bytes(c, "rgb");
        var got = image.Pixels.ToArray();
        int diffs = expected.Zip(got).Count(p => p.First != p.Second);
        Assert.True(diffs == 0, $"{file} ({c.GetProperty("mode")}): {diffs} of {expected.Length} bytes differ from Pillow");
    }

    [Fact]
    public void MissingFileNamesTheFileAndTheRow()
    {
        using var dir = new TempFolder();
        string path = Path.Combine(dir.Path, "nowhere", "cat.png");
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(path, rowIndex: 17));
        Assert.Equal(path, e.Path);
        Assert.Equal(17, e.RowIndex);
        Assert.Contains(path, e.Message);
        Assert.Contains("data row 18", e.Message);
        Assert.Contains("does not exist", e.Message);

        var noRow = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(Path.Combine(dir.Path, "cat.png")));
        Assert.Null(noRow.RowIndex);
        Assert.DoesNotContain("row", noRow.Message);
    }

    [Fact]
    public void RandomBytesAreNotAnImage()
    {
        using var dir = new TempFolder();
        var junk = new byte[4096];
        new Random(7).NextBytes(junk);
        string path = Path.Combine(dir.Path, "junk.png");
        File.WriteAllBytes(path, junk);
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(path, 3));
        Assert.Contains("junk.png", e.Message);
        Assert.Contains("not an image", e.Message);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "png")]
    [InlineData(SKEncodedImageFormat.Jpeg, "jpg")]
    public void TruncatedFilesAreRefused(SKEncodedImageFormat format, string extension)
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(160, 120);
        string full = VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "full." + extension), format);
        var bytes = File.ReadAllBytes(full);
        Assert.Equal((160, 120), (ImageDecoder.Load(full).Width, ImageDecoder.Load(full).Height));

        string cut = Path.Combine(dir.Path, "cut." + extension);
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(cut, 9));
        Assert.Contains("cut." + extension, e.Message);
        Assert.Contains("(data row 10)", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void HeaderOnlyPngIsRefused()
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(40, 30);
        var bytes = File.ReadAllBytes(VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "a.png"), SKEncodedImageFormat.Png));
        string path = Path.Combine(dir.Path, "header.png");
        File.WriteAllBytes(path, bytes[..20]);   // the signature and part of IHDR
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(path));
        Assert.Contains("header.png", e.Message);
    }

    [Fact]
    public void CorruptPixelDataIsRefused()
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(160, 120);
        var bytes = File.ReadAllBytes(VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "a.png"), SKEncodedImageFormat.Png));
        // Overwrite the middle of the compressed pixel data: the zlib stream breaks (or ends early).
        for (int i = bytes.Length / 3; i < bytes.Length / 3 + 64; i++)
            bytes[i] ^= 0x5A;
        string path = Path.Combine(dir.Path, "corrupt.png");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(path, 2));
        Assert.Contains("corrupt.png", e.Message);
        Assert.Contains("(data row 3)", e.Message);
    }

    [Fact]
    public void EmptyFileAndFolderAreRefused()
    {
        using var dir = new TempFolder();
        string empty = dir.Write("empty.jpg", "");
        Assert.Contains("empty", Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(empty)).Message);
        var folder = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(dir.Path, 0));
        Assert.Contains("folder", folder.Message);
        Assert.Contains("(data row 1)", folder.Message);
        Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(""));
        Assert.Throws<ArgumentNullException>(() => ImageDecoder.Load(null!));
    }

    [Fact]
    public void DecodeNamesTheSourceGiven()
    {
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Decode(new byte[] { 1, 2, 3, 4, 5 }, "column 'image' of row 4", 4));
        Assert.Equal("column 'image' of row 4", e.Path);
        Assert.Contains("'column 'image' of row 4'", e.Message);
    }

    [Fact]
    public void OpaqueMLImageGivesTheSamePixelsAsTheFile()
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(50, 30);
        string path = VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "p.png"), SKEncodedImageFormat.Png);
        using var mlImage = MLImage.CreateFromFile(path);
        var fromMl = RgbImage.FromMLImage(mlImage);
        var fromFile = ImageDecoder.Load(path);
        Assert.Equal(fromFile.Pixels.ToArray(), fromMl.Pixels.ToArray());
        Assert.Equal(bitmap.GetPixel(7, 3).Red, fromFile[7, 3].R);
        Assert.Equal(bitmap.GetPixel(7, 3).Blue, fromFile[7, 3].B);
    }

    [Fact]
    public void MLImageChannelOrderIsHonoured()
    {
        // One pixel R=10 G=20 B=30 in both layouts ML.NET uses.
        using var bgra = MLImage.CreateFromPixels(1, 1, MLPixelFormat.Bgra32, new byte[] { 30, 20, 10, 255 });
        using var rgba = MLImage.CreateFromPixels(1, 1, MLPixelFormat.Rgba32, new byte[] { 10, 20, 30, 255 });
        Assert.Equal(((byte)10, (byte)20, (byte)30), RgbImage.FromMLImage(bgra)[0, 0]);
        Assert.Equal(((byte)10, (byte)20, (byte)30), RgbImage.FromMLImage(rgba)[0, 0]);
    }
}
