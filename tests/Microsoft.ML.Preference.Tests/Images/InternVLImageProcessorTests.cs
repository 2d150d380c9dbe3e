using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Tests.Text;
using Microsoft.ML.Preference.Images;
using SkiaSharp;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Images;

public class InternVLImageProcessorTests
{
    public InternVLImageProcessorTests() => TorchRuntime.Initialize();

    private static readonly float Lowest = (0 - 0.485f) / 0.229f;    // R at 0: the most negative value
    private static readonly float Highest = (1 - 0.406f) / 0.225f;   // B at 255: the most positive value

    public static IEnumerable<object[]> DynamicCases() =>
        Enumerable.Range(0, VisionTestFiles.PilRoot.GetProperty("dynamic_preprocess").GetArrayLength()).Select(i => new object[] { i });

    [Theory]
    [MemberData(nameof(DynamicCases))]
    public void TilesAreInternVLsPillowTilesByteForByte(int index)
    {
        var c = VisionTestFiles.PilRoot.GetProperty("dynamic_preprocess")[index];
        var processor = new InternVLImageProcessor(new ImageTilingOptions
        {
            TileSize = c.GetProperty("image_size").GetInt32(),
            MinTiles = c.GetProperty("min_num").GetInt32(),
            MaxTiles = c.GetProperty("max_num").GetInt32(),
            UseThumbnail = c.GetProperty("use_thumbnail").GetBoolean(),
        });
        var source = VisionTestFiles.PilSource(c.GetProperty("source").GetString()!);
        var plan = processor.Plan(source.Width, source.Height);
        Assert.Equal(new TileGrid(c.GetProperty("cols").GetInt32(), c.GetProperty("rows").GetInt32()), plan.Grid);

        var expected = c.GetProperty("tiles").EnumerateArray().Select(t => Convert.FromBase64String(t.GetString()!)).ToArray();
        var tiles = processor.TileImages(source);
        Assert.Equal(expected.Length, tiles.Count);
        for (int t = 0; t < tiles.Count; t++)
            Assert.True(expected[t].AsSpan().SequenceEqual(tiles[t].Pixels), $"tile {t} differs from Pillow's");

        // The tensor is those tiles, channel planes, normalised.
        using var scope = torch.NewDisposeScope();
        using var result = processor.Process(source);
        int s = plan.TileSize;
        Assert.Equal(new long[] { expected.Length, 3, s, s }, result.PixelValues.shape);
        var values = result.PixelValues.data<float>().ToArray();
        for (int t = 0; t < expected.Length; t++)
            for (int ch = 0; ch < 3; ch++)
                for (int p = 0; p < s * s; p++)
                {
                    float want = VisionTestFiles.Expected(expected[t][p * 3 + ch], ch);
                    float got = values[((t * 3 + ch) * s * s) + p];
                    if (want != got)
                        Assert.Fail($"tile {t} channel {ch} sample {p}: {got}, expected {want}");
                }
    }

    [Fact]
    public void NormalisationIsTorchvisionsFloat32Arithmetic()
    {
        for (int ch = 0; ch < 3; ch++)
            for (int v = 0; v < 256; v++)
            {
                float value = ImageNetNormalization.Normalize((byte)v, ch);
                Assert.Equal(VisionTestFiles.Expected((byte)v, ch), value);
                double exact = (v / 255.0 - ImageNetNormalization.Mean[ch]) / ImageNetNormalization.Std[ch];
                Assert.True(Math.Abs(exact - value) < 1e-6, $"{v} in channel {ch}: {value} vs {exact}");
            }
        // The same arithmetic done by torch on a float32 tensor.
        using var scope = torch.NewDisposeScope();
        var bytes = torch.arange(256, dtype: torch.uint8);
        var mean = torch.tensor(new[] { 0.485f, 0.456f, 0.406f }).view(3, 1);
        var std = torch.tensor(new[] { 0.229f, 0.224f, 0.225f }).view(3, 1);
        var viaTorch = bytes.to_type(torch.float32).div(255).expand(3, 256).sub(mean).div(std).data<float>().ToArray();
        for (int ch = 0; ch < 3; ch++)
            for (int v = 0; v < 256; v++)
                Assert.Equal(viaTorch[ch * 256 + v], ImageNetNormalization.Normalize((byte)v, ch));
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "png")]
    [InlineData(SKEncodedImageFormat.Jpeg, "jpg")]
    public void EncodedFilesBecomeThirteenTilesOf448(SKEncodedImageFormat format, string extension)
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(640, 480);
        string path = VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "photo." + extension), format);
        var processor = new InternVLImageProcessor(new ImageTilingOptions());   // InternVL2: 448, 1..12, thumbnail

        using var tiles = processor.Process(path, rowIndex: 0);
        // 640/480 = 4/3 exactly: grid 4x3, 12 tiles and the thumbnail.
        Assert.Equal(new TileGrid(4, 3), tiles.Plans[0].Grid);
        Assert.Equal(new long[] { 13, 3, 448, 448 }, tiles.PixelValues.shape);
        Assert.Equal(torch.float32, tiles.PixelValues.dtype);
        Assert.Equal([13], tiles.TilesPerImage);
        Assert.Equal(13, tiles.TotalTiles);
        Assert.Equal([13 * 256], tiles.ImageTokenCounts(256));
        float min = tiles.PixelValues.min().item<float>(), max = tiles.PixelValues.max().item<float>();
        Assert.InRange(min, Lowest, Highest);
        Assert.InRange(max, Lowest, Highest);
        Assert.True(max - min > 3, "a picture with gradients from 0 to 255 spans most of the range");
        Assert.False(tiles.PixelValues.isnan().any().item<bool>());

        // Thumbnail = the whole picture at 448²: its top-left pixel is red ~0, green ~0 as in the source.
        var thumbRed = tiles.PixelValues[12, 0, 0, 0].item<float>();
        Assert.True(thumbRed < ImageNetNormalization.Normalize(16, 0), $"thumbnail top-left red {thumbRed}");
        // The top-right tile (index 3) ends at the right edge, where red is ~255.
        var rightRed = tiles.PixelValues[3, 0, 10, 447].item<float>();
        Assert.True(rightRed > ImageNetNormalization.Normalize(240, 0), $"top-right tile red {rightRed}");
    }

    [Fact]
    public void WithoutDynamicTilingEveryImageIsOneTile()
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(300, 100);
        string path = VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "wide.png"), SKEncodedImageFormat.Png);
        var processor = new InternVLImageProcessor(new ImageTilingOptions { TileSize = 64, DynamicImageSize = false });
        using var tiles = processor.ProcessRow([path, path]);
        Assert.Equal(new long[] { 2, 3, 64, 64 }, tiles.PixelValues.shape);
        Assert.Equal([1, 1], tiles.TilesPerImage);

        // The tile is the whole image resized to 64x64 with Pillow's bicubic.
        var expected = PilBicubic.Resize(ImageDecoder.Load(path), 64, 64);
        var values = tiles.PixelValues[1].data<float>().ToArray();
        for (int p = 0; p < 64 * 64; p++)
            for (int ch = 0; ch < 3; ch++)
                Assert.Equal(ImageNetNormalization.Normalize(expected.Pixels[p * 3 + ch], ch), values[ch * 64 * 64 + p]);
    }

    [Fact]
    public void ImagesOfARowShareTheBudget()
    {
        var options = new ImageTilingOptions { TileSize = 56, MaxTiles = 6 };
        var processor = new InternVLImageProcessor(options);
        var wide = Solid(300, 100, 200);   // 3:1
        var square = Solid(100, 100, 50);  // 10000 px > 0.5·56²·4, so alone it ties its way to 2x2

        using (var alone = processor.Process(square))
            Assert.Equal([5], alone.TilesPerImage);   // 2x2 + thumbnail
        using (var aloneWide = processor.Process(wide))
            Assert.Equal([4], aloneWide.TilesPerImage);   // 3x1 + thumbnail

        // Two images: max(1, 6 // 2) = 3 each; the square can no longer reach 2x2.
        using var row = processor.ProcessRow([wide, square]);
        Assert.Equal([4, 1], row.TilesPerImage);
        Assert.Equal(new long[] { 5, 3, 56, 56 }, row.PixelValues.shape);
        Assert.Equal([4 * 16, 16], row.ImageTokenCounts(16));
        // Tiles keep image order: the first four are the wide image's (value 200), the last the square's (50).
        Assert.Equal(ImageNetNormalization.Normalize(200, 1), row.PixelValues[3, 1, 5, 5].item<float>());
        Assert.Equal(ImageNetNormalization.Normalize(50, 1), row.PixelValues[4, 1, 5, 5].item<float>());

        // Seven images: 6 // 7 = 0, so 1 each.
        using var many = processor.ProcessRow(Enumerable.Repeat(wide, 7).ToArray());
        Assert.All(many.TilesPerImage, t => Assert.Equal(1, t));
        Assert.Equal(3, TileBudget.PerImage(6, 2));
        Assert.Equal(1, TileBudget.PerImage(6, 7));
        Assert.Equal(12, TileBudget.PerImage(12, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TileBudget.PerImage(12, 0));
    }

    [Fact]
    public void ABudgetBelowMinTilesGivesOneTileAsUpstream()
    {
        var processor = new InternVLImageProcessor(new ImageTilingOptions { TileSize = 32, MinTiles = 2, MaxTiles = 4 });
        var image = Solid(200, 100, 90);
        Assert.Equal(new TileGrid(2, 1), processor.Plan(200, 100).Grid);
        // Three images: max_num = max(1, 4 // 3) = 1 < min_num = 2: no candidate, so (1, 1) and no thumbnail.
        using var row = processor.ProcessRow([image, image, image]);
        Assert.Equal([1, 1, 1], row.TilesPerImage);
    }

    [Fact]
    public void ABadImageFailsTheRowWithItsName()
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(60, 40);
        string good = VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "good.png"), SKEncodedImageFormat.Png);
        string bad = dir.Write("bad.jpg", "this is not a jpeg");
        var processor = new InternVLImageProcessor(new ImageTilingOptions { TileSize = 28 });
        var e = Assert.Throws<ImageLoadException>(() => processor.ProcessRow([good, bad], rowIndex: 41));
        Assert.Equal(bad, e.Path);
        Assert.Equal(41, e.RowIndex);
        Assert.Contains("bad.jpg", e.Message);
        Assert.Contains("data row 42", e.Message);
        Assert.Throws<ImageLoadException>(() => processor.Process(Path.Combine(dir.Path, "missing.png"), 2));
    }

    [Fact]
    public void MLImageInputMatchesTheFile()
    {
        using var dir = new TempFolder();
        using var bitmap = VisionTestFiles.Picture(90, 70);
        string path = VisionTestFiles.Save(bitmap, Path.Combine(dir.Path, "p.png"), SKEncodedImageFormat.Png);
        var processor = new InternVLImageProcessor(new ImageTilingOptions { TileSize = 32, MaxTiles = 4 });
        using var mlImage = MLImage.CreateFromFile(path);
        using var fromMl = processor.Process(mlImage);
        using var fromFile = processor.Process(path);
        Assert.True(fromMl.PixelValues.eq(fromFile.PixelValues).all().item<bool>());
        // 90x70 alone ties its way to 2x2 (+ thumbnail); two of them get max(1, 4 // 2) = 2 tiles each, so 1x1.
        Assert.Equal([5], fromMl.TilesPerImage);
        using var row = processor.ProcessRow([mlImage, mlImage]);
        Assert.Equal([1, 1], row.TilesPerImage);
    }

    [Fact]
    public void TensorsLeaveTheInnerScopeAndBelongToTheCallers()
    {
        var processor = new InternVLImageProcessor(new ImageTilingOptions { TileSize = 16, MaxTiles = 2 });
        var image = Solid(40, 20, 10);
        torch.Tensor kept;
        using (torch.NewDisposeScope())
        {
            var tiles = processor.Process(image);
            kept = tiles.PixelValues;
            Assert.False(kept.IsInvalid);
            Assert.Equal(3, kept.shape[0]);
        }
        Assert.True(kept.IsInvalid);   // the caller's scope owned it

        var unscoped = processor.Process(image);
        Assert.False(unscoped.PixelValues.IsInvalid);
        unscoped.Dispose();
        Assert.True(unscoped.PixelValues.IsInvalid);
    }

    [Fact]
    public void TextOnlyRowsGetInternVLsWhitePlaceholder()
    {
        var processor = new InternVLImageProcessor(new ImageTilingOptions { TileSize = 28, MinTiles = 1, MaxTiles = 12 });
        using var placeholder = processor.TextOnlyPlaceholder();
        Assert.Equal(new long[] { 1, 3, 28, 28 }, placeholder.PixelValues.shape);
        Assert.Equal([1], placeholder.TilesPerImage);
        for (int ch = 0; ch < 3; ch++)
            Assert.True(placeholder.PixelValues[0, ch].eq(ImageNetNormalization.Normalize(255, ch)).all().item<bool>());
    }

    [Fact]
    public void EmptyRowHasNoTiles()
    {
        var processor = new InternVLImageProcessor(new ImageTilingOptions { TileSize = 28 });
        using var none = processor.ProcessRow(Array.Empty<RgbImage>());
        Assert.Equal(new long[] { 0, 3, 28, 28 }, none.PixelValues.shape);
        Assert.Empty(none.TilesPerImage);
    }

    [Fact]
    public void OptionsComeFromTheModelConfig()
    {
        var config = Microsoft.ML.Preference.Modeling.Configuration.InternVLConfig.Load(Path.Combine(AppContext.BaseDirectory, "TestData", "tiny-internvl"));
        var options = ImageTilingOptions.FromConfig(config);
        Assert.Equal(config.ForceImageSize, options.TileSize);
        Assert.Equal(config.MinDynamicPatch, options.MinTiles);
        Assert.Equal(config.MaxDynamicPatch, options.MaxTiles);
        Assert.Equal(config.UseThumbnail, options.UseThumbnail);
        Assert.Equal(config.DynamicImageSize, options.DynamicImageSize);
        Assert.Equal(options, new InternVLImageProcessor(config).Options);
    }

    [Fact]
    public void RejectsBadOptions()
    {
        Assert.Throws<ArgumentException>(() => new InternVLImageProcessor(new ImageTilingOptions { TileSize = 0 }));
        Assert.Throws<ArgumentException>(() => new InternVLImageProcessor(new ImageTilingOptions { MinTiles = 0 }));
        Assert.Throws<ArgumentException>(() => new InternVLImageProcessor(new ImageTilingOptions { MaxTiles = 0 }));
        Assert.Throws<ArgumentException>(() => new InternVLImageProcessor(new ImageTilingOptions { MaxTiles = DynamicTiling.MaxSupportedTiles + 1 }));
    }

    private static RgbImage Solid(int width, int height, byte value)
    {
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, value);
        return new RgbImage(width, height, rgb);
    }
}
