using System.Runtime.InteropServices;
using SkiaSharp;

namespace Microsoft.ML.Preference.Images;

/// <summary>
/// Decodes image files (PNG, JPEG, GIF, BMP, WebP … whatever SkiaSharp reads) to <see cref="RgbImage"/> the way
/// InternVL loads them, <c>Image.open(path).convert('RGB')</c>: alpha dropped without premultiplying, grey and
/// palette images expanded to RGB, no colour management, EXIF orientation ignored, first frame only.
/// Every failure is an <see cref="ImageLoadException"/> naming the file (and the row, when given).
/// </summary>
/// <remarks>
/// Unlike InternVL's training scripts, which set PIL's <c>LOAD_TRUNCATED_IMAGES</c> and silently retry another
/// row, a truncated or corrupt file is an error here: a preference pair must not quietly train on half an image.
/// </remarks>
internal static class ImageDecoder
{
    /// <summary>Reads and decodes the image file at <paramref name="path"/>.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="rowIndex">The data row it belongs to, for the error message.</param>
    public static RgbImage Load(string path, int? rowIndex = null) => Load(path, rowIndex, ImageDecodeBounds.None);

    /// <summary>
    /// Reads and decodes <paramref name="path"/> within <paramref name="bounds"/>: the size is read from the header
    /// before any pixel is decoded, an image above the pixel limit is refused (naming its size), and one larger than
    /// the bounds' full-decode limit is decoded at an integer-reduced scale no smaller than what tiling needs.
    /// </summary>
    internal static RgbImage Load(string path, int? rowIndex, ImageDecodeBounds bounds)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (string.IsNullOrWhiteSpace(path))
            throw new ImageLoadException(path, rowIndex, "the path is empty");
        if (Directory.Exists(path))
            throw new ImageLoadException(path, rowIndex, "it is a folder, not a file");
        byte[] encoded;
        try
        {
            encoded = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ImageLoadException(path, rowIndex, "the file does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ImageLoadException(path, rowIndex, $"the file cannot be read ({e.Message})", e);
        }
        return Decode(encoded, path, rowIndex, bounds);
    }

    /// <summary>The width and height in the file's header, without decoding a pixel.</summary>
    /// <exception cref="ImageLoadException">The file is missing, unreadable or not an image.</exception>
    public static (int Width, int Height) ReadSize(string path, int? rowIndex = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new ImageLoadException(path, rowIndex, Directory.Exists(path) ? "it is a folder, not a file" : "the file does not exist");
        using var stream = new SKFileStream(path);
        if (!stream.IsValid)
            throw new ImageLoadException(path, rowIndex, "the file cannot be read");
        using var codec = SKCodec.Create(stream)
            ?? throw new ImageLoadException(path, rowIndex, "it is not an image SkiaSharp can read (unknown format, or a corrupt header)");
        return (codec.Info.Width, codec.Info.Height);
    }

    /// <summary>Decodes an encoded image held in memory.</summary>
    /// <param name="encoded">The file's bytes.</param>
    /// <param name="sourceName">What to call it in errors (a path, a URL, a column name).</param>
    /// <param name="rowIndex">The data row it belongs to, for the error message.</param>
    public static RgbImage Decode(ReadOnlySpan<byte> encoded, string sourceName, int? rowIndex = null) =>
        Decode(encoded, sourceName, rowIndex, ImageDecodeBounds.None);

    private static RgbImage Decode(ReadOnlySpan<byte> encoded, string sourceName, int? rowIndex, ImageDecodeBounds bounds)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        if (encoded.IsEmpty)
            throw new ImageLoadException(sourceName, rowIndex, "the file is empty");
        try
        {
            using var data = SKData.CreateCopy(encoded);
            using var codec = SKCodec.Create(data)
                ?? throw new ImageLoadException(sourceName, rowIndex, "it is not an image SkiaSharp can read (unknown format, or a corrupt header)");
            return DecodePixels(codec, encoded, sourceName, rowIndex, bounds);
        }
        catch (ImageLoadException)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // SkiaSharp reports most problems through results, but keep anything else from surfacing as a bare native error.
            throw new ImageLoadException(sourceName, rowIndex, $"decoding failed ({e.GetType().Name}: {e.Message})", e);
        }
    }

    private static RgbImage DecodePixels(SKCodec codec, ReadOnlySpan<byte> encoded, string sourceName, int? rowIndex, ImageDecodeBounds bounds)
    {
        var encodedInfo = codec.Info;
        int width = encodedInfo.Width, height = encodedInfo.Height;
        if (width < 1 || height < 1)
            throw new ImageLoadException(sourceName, rowIndex, $"the image has no pixels ({width}x{height})");
        long pixels = (long)width * height;
        if (pixels > bounds.MaxPixels)
            throw new ImageLoadException(sourceName, rowIndex,
                $"the image is {width}x{height} = {pixels:N0} pixels, above the limit of {bounds.MaxPixels:N0} (ImageTilingOptions.MaxImagePixels)") { Pixels = pixels };
        int factor = bounds.ReductionFactor(width, height);
        if (factor > 1 && DecodeReduced(codec, encoded, sourceName, rowIndex, factor) is { } reduced)
            return reduced;
        if (pixels * 3 > Array.MaxLength)
            throw new ImageLoadException(sourceName, rowIndex, $"the image is too large to hold in memory ({width}x{height})") { Pixels = pixels };
        return DecodeFull(codec, sourceName, rowIndex);
    }

    private static string Failure(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the image data is truncated",
        SKCodecResult.ErrorInInput => "the image data is corrupt",
        _ => $"the image cannot be decoded (SkiaSharp: {result})",
    };

    /// <summary>Unpremultiplied RGBA with no colour space: Skia then copies the stored samples as PIL's convert('RGB') keeps them.</summary>
    private static SKImageInfo Target(int width, int height) => new(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);

    private static unsafe RgbImage DecodeFull(SKCodec codec, string sourceName, int? rowIndex)
    {
        int width = codec.Info.Width, height = codec.Info.Height;
        // (SKBitmap.Decode would premultiply alpha into the colours.)
        nuint bytes = (nuint)width * (nuint)height * 4;
        byte* rgba = (byte*)NativeMemory.Alloc(bytes);
        try
        {
            var result = codec.GetPixels(Target(width, height), (nint)rgba);
            if (result != SKCodecResult.Success)
                throw new ImageLoadException(sourceName, rowIndex, Failure(result));

            // The one managed buffer of the image: RGB, alpha dropped.
            var rgb = new byte[width * height * 3];
            long pixels = (long)width * height;
            fixed (byte* dst = rgb)
            {
                byte* s = rgba;
                byte* d = dst;
                for (long p = 0; p < pixels; p++, s += 4, d += 3)
                {
                    d[0] = s[0];
                    d[1] = s[1];
                    d[2] = s[2];
                }
            }
            return new RgbImage(width, height, rgb);
        }
        finally
        {
            NativeMemory.Free(rgba);
        }
    }

    private delegate void RgbRowReader(Span<byte> rgb);

    /// <summary>
    /// Decodes row by row and averages each <paramref name="factor"/>×<paramref name="factor"/> block (a box filter; the
    /// last column and row of blocks average what is left), so memory is one source row plus the reduced image,
    /// whatever the file's size. The result remembers the file's size, which tiling plans from. Rows come from
    /// <see cref="PngRowReader"/> for PNG and from Skia's scanline decoder otherwise (JPEG); a format with neither
    /// returns null and is decoded whole.
    /// </summary>
    private static unsafe RgbImage? DecodeReduced(SKCodec codec, ReadOnlySpan<byte> encoded, string sourceName, int? rowIndex, int factor)
    {
        int width = codec.Info.Width, height = codec.Info.Height;
        try
        {
            if (codec.EncodedFormat == SKEncodedImageFormat.Png)
            {
                using var png = PngRowReader.TryOpen(encoded);
                if (png is not null && png.Width == width && png.Height == height)
                    return Reduce(width, height, factor, png.ReadRow);
            }
            if (codec.ScanlineOrder != SKCodecScanlineOrder.TopDown || codec.StartScanlineDecode(Target(width, height)) != SKCodecResult.Success)
                return null;
            byte* rgba = (byte*)NativeMemory.Alloc((nuint)width * 4);
            try
            {
                return Reduce(width, height, factor, rgb =>
                {
                    if (codec.GetScanlines((nint)rgba, 1, width * 4) != 1)
                        throw new InvalidDataException("the image data is truncated or corrupt");
                    var source = new ReadOnlySpan<byte>(rgba, width * 4);
                    for (int x = 0; x < width; x++)
                        source.Slice(x * 4, 3).CopyTo(rgb.Slice(x * 3, 3));
                });
            }
            finally
            {
                NativeMemory.Free(rgba);
            }
        }
        catch (InvalidDataException e)
        {
            throw new ImageLoadException(sourceName, rowIndex, e.Message, e);
        }
    }

    private static RgbImage Reduce(int width, int height, int factor, RgbRowReader readRow)
    {
        int outWidth = (width + factor - 1) / factor, outHeight = (height + factor - 1) / factor;
        var rgb = new byte[(long)outWidth * outHeight * 3];
        var sums = new uint[outWidth * 3];
        var line = new byte[width * 3];
        for (int oy = 0; oy < outHeight; oy++)
        {
            int rows = Math.Min(factor, height - oy * factor);
            Array.Clear(sums);
            for (int r = 0; r < rows; r++)
            {
                readRow(line);
                for (int x = 0, s = 0; x < width; x++, s += 3)
                {
                    int o = x / factor * 3;
                    sums[o] += line[s];
                    sums[o + 1] += line[s + 1];
                    sums[o + 2] += line[s + 2];
                }
            }
            for (int ox = 0; ox < outWidth; ox++)
            {
                uint count = (uint)(rows * Math.Min(factor, width - ox * factor));
                long d = ((long)oy * outWidth + ox) * 3;
                for (int c = 0; c < 3; c++)
                    rgb[d + c] = (byte)((sums[ox * 3 + c] + count / 2) / count);
            }
        }
        return new RgbImage(outWidth, outHeight, rgb, width, height);
    }
}

/// <summary>
/// How far <see cref="ImageDecoder"/> may go: a pixel limit checked against the header, and, for images above
/// <see cref="FullDecodeMaxPixels"/>, the smallest size tiling needs (<see cref="MinWidth"/> × <see cref="MinHeight"/>),
/// down to which the decoder may reduce by an integer factor.
/// </summary>
internal sealed record ImageDecodeBounds(long MaxPixels, long FullDecodeMaxPixels, int MinWidth, int MinHeight)
{
    /// <summary>No limit beyond what memory allows, no reduction: the exact pixels, as before bounds existed.</summary>
    public static readonly ImageDecodeBounds None = new(long.MaxValue, long.MaxValue, int.MaxValue, int.MaxValue);

    /// <summary>The largest k with ⌈w/k⌉ ≥ MinWidth and ⌈h/k⌉ ≥ MinHeight, or 1 when the image is decoded whole.</summary>
    public int ReductionFactor(int width, int height)
    {
        if ((long)width * height <= FullDecodeMaxPixels || MinWidth < 1 || MinHeight < 1)
            return 1;
        return Math.Max(1, Math.Min(width / MinWidth, height / MinHeight));
    }
}
