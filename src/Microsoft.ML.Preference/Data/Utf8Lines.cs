using System.Text;

namespace Microsoft.ML.Preference.Data;

/// <summary>
/// The lines of a UTF-8 text file with their 1-based numbers, decoded strictly: a byte sequence that is not UTF-8
/// is an error naming the file and the line, never a silent U+FFFD (File.ReadLines replaces, and a pair would then
/// train on text nobody wrote).
/// </summary>
/// <remarks>
/// The bytes are split at '\n' before decoding, so the error names the line that holds the bad bytes (a
/// StreamReader decodes whole buffers ahead of the line it returns). A UTF-8 byte-order mark and '\r' before
/// '\n' are dropped, as File.ReadLines drops them.
/// </remarks>
internal static class Utf8Lines
{
    /// <summary>Decodes and throws on invalid bytes (the default UTF8Encoding replaces them).</summary>
    public static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Every line of <paramref name="path"/>, streamed.</summary>
    public static IEnumerable<(long LineNumber, string Line)> Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.SequentialScan);
        long number = 0;
        bool first = true;
        foreach (var (bytes, _) in RawLines(stream))
        {
            number++;
            yield return (number, Decode(bytes, path, number, ref first));
        }
    }

    /// <summary>
    /// The lines of <paramref name="stream"/> as bytes split at '\n' (not decoded), each with whether its newline was
    /// written: a last line without one may be torn by a killed writer.
    /// </summary>
    public static IEnumerable<(byte[] Bytes, bool Complete)> RawLines(Stream stream)
    {
        var buffer = new byte[1 << 16];
        var line = new MemoryStream();
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            for (int i = 0; i < read; i++)
            {
                if (buffer[i] != (byte)'\n')
                    continue;
                line.Write(buffer, start, i - start);
                yield return (line.ToArray(), true);
                line.SetLength(0);
                start = i + 1;
            }
            line.Write(buffer, start, read - start);
        }
        if (line.Length > 0)
            yield return (line.ToArray(), false);
    }

    /// <summary>A whole file as text (e.g. a JSON document), strictly decoded; the error names the line.</summary>
    public static string ReadAll(string path)
    {
        var text = new StringBuilder();
        foreach (var (_, line) in Read(path))
            text.Append(line).Append('\n');
        return text.ToString();
    }

    private static string Decode(ReadOnlySpan<byte> bytes, string path, long number, ref bool first)
    {
        if (first)
        {
            first = false;
            if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
                bytes = bytes[3..];
        }
        if (!bytes.IsEmpty && bytes[^1] == (byte)'\r')
            bytes = bytes[..^1];
        try
        {
            return Strict.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            string at = e.Index >= 0 ? $" at byte {e.Index + 1} of the line" : "";
            string value = e.BytesUnknown is { Length: > 0 } unknown ? $" (0x{Convert.ToHexString(unknown)})" : "";
            throw new InvalidDataException($"{path}:{number}: not valid UTF-8{value}{at}; text files must be UTF-8.", e);
        }
    }
}
