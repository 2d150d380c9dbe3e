using System.Buffers.Binary;
using System.IO.Compression;

namespace Microsoft.ML.Preference.Images;

/// <summary>
/// Reads a non-interlaced PNG one row at a time as 8-bit RGB (alpha dropped, grey and palette expanded, 16-bit
/// samples cut to their high byte), holding only the compressed data and two rows: what lets a 20000×20000 PNG be
/// decoded at a reduced scale in a few MB. SkiaSharp's PNG codec decodes whole images only (its scanline decoder
/// answers Unimplemented for PNG), so the reduced path cannot use it.
/// </summary>
internal sealed class PngRowReader : IDisposable
{
    private readonly ZLibStream _inflater;
    private readonly int _channels;
    private readonly int _bitDepth;
    private readonly int _colourType;
    private readonly byte[]? _palette;
    private readonly int _filterUnit;
    private byte[] _row;
    private byte[] _previous;

    private PngRowReader(int width, int height, int bitDepth, int colourType, byte[]? palette, byte[] compressed)
    {
        Width = width;
        Height = height;
        _bitDepth = bitDepth;
        _colourType = colourType;
        _palette = palette;
        _channels = colourType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        long rowBytes = ((long)width * _channels * bitDepth + 7) / 8;
        _filterUnit = Math.Max(1, _channels * bitDepth / 8);
        _row = new byte[rowBytes];
        _previous = new byte[rowBytes];
        _inflater = new ZLibStream(new MemoryStream(compressed, writable: false), CompressionMode.Decompress);
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>A reader for <paramref name="png"/>, or null when it is not a PNG this reader handles (interlaced, unknown type).</summary>
    /// <exception cref="InvalidDataException">The chunk structure is broken or truncated.</exception>
    public static PngRowReader? TryOpen(ReadOnlySpan<byte> png)
    {
        ReadOnlySpan<byte> signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
        if (!png.StartsWith(signature))
            return null;
        int position = 8, width = 0, height = 0, bitDepth = 0, colourType = -1, interlace = 0;
        byte[]? palette = null;
        var compressed = new MemoryStream();
        while (true)
        {
            if (position + 8 > png.Length)
                throw new InvalidDataException("the PNG data is truncated (no IEND chunk)");
            int length = BinaryPrimitives.ReadInt32BigEndian(png[position..]);
            var type = png.Slice(position + 4, 4);
            if (length < 0 || position + 12L + length > png.Length)
                throw new InvalidDataException("the PNG data is truncated");
            var data = png.Slice(position + 8, length);
            position += 12 + length;
            if (type.SequenceEqual("IHDR"u8))
            {
                if (length < 13)
                    throw new InvalidDataException("the PNG header is corrupt");
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                bitDepth = data[8];
                colourType = data[9];
                interlace = data[12];
            }
            else if (type.SequenceEqual("PLTE"u8))
                palette = data.ToArray();
            else if (type.SequenceEqual("IDAT"u8))
                compressed.Write(data);
            else if (type.SequenceEqual("IEND"u8))
                break;
        }
        bool supported = interlace == 0 && width > 0 && height > 0 && colourType is 0 or 2 or 3 or 4 or 6
            && bitDepth is 1 or 2 or 4 or 8 or 16 && (colourType is 0 or 3 || bitDepth >= 8) && (colourType != 3 || (palette is not null && bitDepth <= 8));
        return supported ? new PngRowReader(width, height, bitDepth, colourType, palette, compressed.ToArray()) : null;
    }

    /// <summary>The next row as RGB (<see cref="Width"/>·3 bytes).</summary>
    /// <exception cref="InvalidDataException">The pixel data is truncated or corrupt.</exception>
    public void ReadRow(Span<byte> rgb)
    {
        (_row, _previous) = (_previous, _row);
        int filter;
        try
        {
            filter = _inflater.ReadByte();
            if (filter < 0)
                throw new InvalidDataException("the image data is truncated");
            _inflater.ReadExactly(_row);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("the image data is truncated", e);
        }
        Unfilter(filter);
        ToRgb(rgb);
    }

    private void Unfilter(int filter)
    {
        byte[] row = _row, up = _previous;
        int unit = _filterUnit;
        switch (filter)
        {
            case 0:
                return;
            case 1:
                for (int i = unit; i < row.Length; i++)
                    row[i] += row[i - unit];
                return;
            case 2:
                for (int i = 0; i < row.Length; i++)
                    row[i] += up[i];
                return;
            case 3:
                for (int i = 0; i < row.Length; i++)
                    row[i] += (byte)(((i >= unit ? row[i - unit] : 0) + up[i]) >> 1);
                return;
            case 4:
                for (int i = 0; i < row.Length; i++)
                {
                    int a = i >= unit ? row[i - unit] : 0, b = up[i], c = i >= unit ? up[i - unit] : 0;
                    int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                    row[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }
                return;
            default:
                throw new InvalidDataException($"the image data is corrupt (row filter {filter})");
        }
    }

    private void ToRgb(Span<byte> rgb)
    {
        int bytesPerSample = _bitDepth == 16 ? 2 : 1;
        for (int x = 0; x < Width; x++)
        {
            byte r, g, b;
            if (_bitDepth < 8)
            {
                int bitOffset = x * _bitDepth;
                int value = (_row[bitOffset >> 3] >> (8 - _bitDepth - (bitOffset & 7))) & ((1 << _bitDepth) - 1);
                if (_colourType == 3)
                    (r, g, b) = Palette(value);
                else
                    r = g = b = (byte)(value * 255 / ((1 << _bitDepth) - 1));
            }
            else
            {
                int at = x * _channels * bytesPerSample;
                switch (_colourType)
                {
                    case 3:
                        (r, g, b) = Palette(_row[at]);
                        break;
                    case 0 or 4:
                        r = g = b = _row[at];
                        break;
                    default:
                        (r, g, b) = (_row[at], _row[at + bytesPerSample], _row[at + 2 * bytesPerSample]);
                        break;
                }
            }
            rgb[x * 3] = r;
            rgb[x * 3 + 1] = g;
            rgb[x * 3 + 2] = b;
        }
    }

    private (byte, byte, byte) Palette(int index) =>
        index * 3 + 2 < _palette!.Length ? (_palette[index * 3], _palette[index * 3 + 1], _palette[index * 3 + 2])
            : throw new InvalidDataException($"the image data is corrupt (palette index {index} of {_palette.Length / 3})");

    public void Dispose() => _inflater.Dispose();
}
