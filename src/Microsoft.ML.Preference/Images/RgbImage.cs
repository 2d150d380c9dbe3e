using Microsoft.ML.Data;

namespace Microsoft.ML.Preference.Images;

/// <summary>
/// An 8-bit RGB image in one byte buffer: rows top to bottom, R, G, B per pixel, no padding. This is what PIL's
/// <c>Image.open(p).convert('RGB')</c> holds, and the only layout the resizer and the tiler work on.
/// </summary>
internal sealed class RgbImage
{
    private readonly byte[] rgb;

    /// <summary>Wraps <paramref name="rgb"/> (width·height·3 bytes). The array is taken, not copied: do not change it afterwards.</summary>
    public RgbImage(int width, int height, byte[] rgb)
    {
        ArgumentNullException.ThrowIfNull(rgb);
        if (width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(width < 1 ? nameof(width) : nameof(height), $"An image needs at least one pixel, not {width}x{height}.");
        if ((long)width * height * 3 != rgb.LongLength)
            throw new ArgumentException($"A {width}x{height} RGB image has {(long)width * height * 3} bytes, not {rgb.LongLength}.", nameof(rgb));
        Width = width;
        Height = height;
        SourceWidth = width;
        SourceHeight = height;
        this.rgb = rgb;
    }

    /// <summary>An image decoded at a reduced scale from a <paramref name="sourceWidth"/>×<paramref name="sourceHeight"/> file.</summary>
    internal RgbImage(int width, int height, byte[] rgb, int sourceWidth, int sourceHeight) : this(width, height, rgb)
    {
        SourceWidth = sourceWidth;
        SourceHeight = sourceHeight;
    }

    /// <summary>
    /// The size of the file this was decoded from: the same as <see cref="Width"/>/<see cref="Height"/> unless a very
    /// large image was decoded at a reduced scale, in which case tiling plans from this size (as InternVL would).
    /// </summary>
    public int SourceWidth { get; }

    /// <inheritdoc cref="SourceWidth"/>
    public int SourceHeight { get; }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The pixels: width·height·3 bytes, R G B, row-major.</summary>
    public ReadOnlySpan<byte> Pixels => rgb;

    /// <summary>The buffer itself, for the resizer and the tensor writer (which only read it).</summary>
    internal byte[] Buffer => rgb;

    /// <summary>The RGB bytes of the pixel at (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
                throw new ArgumentOutOfRangeException(nameof(x), $"({x}, {y}) is outside a {Width}x{Height} image.");
            int i = (y * Width + x) * 3;
            return (rgb[i], rgb[i + 1], rgb[i + 2]);
        }
    }

    /// <summary>A copy of the pixels inside <paramref name="box"/> (PIL's <c>crop</c>; the box must lie inside the image).</summary>
    public RgbImage Crop(TileBox box)
    {
        if (box.Left < 0 || box.Upper < 0 || box.Right > Width || box.Lower > Height || box.Width < 1 || box.Height < 1)
            throw new ArgumentOutOfRangeException(nameof(box), $"Box {box} does not lie inside a {Width}x{Height} image.");
        var output = new byte[box.Width * box.Height * 3];
        for (int y = 0; y < box.Height; y++)
            rgb.AsSpan(((box.Upper + y) * Width + box.Left) * 3, box.Width * 3).CopyTo(output.AsSpan(y * box.Width * 3));
        return new RgbImage(box.Width, box.Height, output);
    }

    /// <summary>
    /// The RGB pixels of an ML.NET image (Bgra32 or Rgba32), alpha dropped as PIL's <c>convert('RGB')</c> does.
    /// </summary>
    /// <remarks>
    /// <see cref="MLImage.CreateFromFile"/> decodes through <c>SKBitmap.Decode</c>, which premultiplies alpha, so
    /// semi-transparent pixels come out darker than PIL's; opaque images are the same. For PIL's exact values load
    /// files with <see cref="ImageDecoder.Load(string, int?)"/>.
    /// </remarks>
    public static RgbImage FromMLImage(MLImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        int width = image.Width, height = image.Height;
        var format = image.PixelFormat;
        if (format is not (MLPixelFormat.Bgra32 or MLPixelFormat.Rgba32))
            throw new ArgumentException($"MLImage pixel format {format} is not supported; expected Bgra32 or Rgba32.", nameof(image));
        ReadOnlySpan<byte> pixels = image.Pixels;
        long needed = (long)width * height * 4;
        if (width < 1 || height < 1 || pixels.Length < needed)
            throw new ArgumentException($"MLImage reports {width}x{height} pixels but holds {pixels.Length} bytes.", nameof(image));
        // needed ≤ pixels.Length < 2^31, so every index below fits an int.
        var rgb = new byte[width * height * 3];
        int r = format == MLPixelFormat.Bgra32 ? 2 : 0, b = 2 - r;
        for (int p = 0, s = 0; p < rgb.Length; p += 3, s += 4)
        {
            rgb[p] = pixels[s + r];
            rgb[p + 1] = pixels[s + 1];
            rgb[p + 2] = pixels[s + b];
        }
        return new RgbImage(width, height, rgb);
    }
}
