using System.Runtime.InteropServices;
using SkiaSharp;

namespace Microsoft.ML.Preference.Vision;

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
public static class ImageDecoder
{
    /// <summary>Reads and decodes the image file at <paramref name="path"/>.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="rowIndex">The data row it belongs to, for the error message.</param>
    public static RgbImage Load(string path, int? rowIndex = null)
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
        return Decode(encoded, path, rowIndex);
    }

    /// <summary>Decodes an encoded image held in memory.</summary>
    /// <param name="encoded">The file's bytes.</param>
    /// <param name="sourceName">What to call it in errors (a path, a URL, a column name).</param>
    /// <param name="rowIndex">The data row it belongs to, for the error message.</param>
    public static RgbImage Decode(ReadOnlySpan<byte> encoded, string sourceName, int? rowIndex = null)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        if (encoded.IsEmpty)
            throw new ImageLoadException(sourceName, rowIndex, "the file is empty");
        try
        {
            using var data = SKData.CreateCopy(encoded);
            using var codec = SKCodec.Create(data)
                ?? throw new ImageLoadException(sourceName, rowIndex, "it is not an image SkiaSharp can read (unknown format, or a corrupt header)");
            return DecodePixels(codec, sourceName, rowIndex);
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

    private static unsafe RgbImage DecodePixels(SKCodec codec, string sourceName, int? rowIndex)
    {
        var encodedInfo = codec.Info;
        int width = encodedInfo.Width, height = encodedInfo.Height;
        if (width < 1 || height < 1)
            throw new ImageLoadException(sourceName, rowIndex, $"the image has no pixels ({width}x{height})");
        if ((long)width * height * 3 > Array.MaxLength)
            throw new ImageLoadException(sourceName, rowIndex, $"the image is too large to hold in memory ({width}x{height})");

        // Unpremultiplied RGBA with no colour space: Skia then copies the stored samples as they are, which is
        // what PIL's convert('RGB') keeps (SKBitmap.Decode would premultiply alpha into the colours).
        var target = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        nuint bytes = (nuint)width * (nuint)height * 4;
        byte* rgba = (byte*)NativeMemory.Alloc(bytes);
        try
        {
            var result = codec.GetPixels(target, (nint)rgba);
            if (result != SKCodecResult.Success)
                throw new ImageLoadException(sourceName, rowIndex, result switch
                {
                    SKCodecResult.IncompleteInput => "the image data is truncated",
                    SKCodecResult.ErrorInInput => "the image data is corrupt",
                    _ => $"the image cannot be decoded (SkiaSharp: {result})",
                });

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
}
