using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Unicode;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// The parsed and fully validated header of a safetensors file. Every check that protects the process from
/// a hostile or damaged file happens here, before anything larger than the header itself is allocated.
/// </summary>
/// <param name="HeaderLength">Bytes of JSON (padding included) after the 8-byte length field.</param>
/// <param name="DataLength">Bytes of the data section (file length - 8 - header length).</param>
/// <param name="Tensors">The tensors in data order (by begin offset; header order among empty ones).</param>
/// <param name="Metadata">The <c>__metadata__</c> entries.</param>
internal sealed record SafetensorsHeader(
    long HeaderLength,
    long DataLength,
    IReadOnlyList<SafetensorsTensorInfo> Tensors,
    IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>The largest header accepted. Real headers are kilobytes; the cap bounds what a lie can cost.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private const string MetadataKey = "__metadata__";

    /// <summary>Offset of the data section from the start of the file.</summary>
    public long DataStart => 8 + HeaderLength;

    /// <summary>Reads and validates the header of an open file.</summary>
    public static SafetensorsHeader Read(Stream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw Fail(path, null, $"the file is {fileLength} bytes long, shorter than the 8-byte header length field (truncated, or not a safetensors file)");

        Span<byte> lengthField = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(lengthField);
        // Compared as unsigned: a value of 2^63 or more must not turn negative and slip past the checks.
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(lengthField);
        if (declared > MaxHeaderBytes)
            throw Fail(path, null, $"the header length field says {declared} bytes, more than the {MaxHeaderBytes / (1024 * 1024)} MiB limit (corrupt, or not a safetensors file)");
        long headerLength = (long)declared;
        if (headerLength > fileLength - 8)
            throw Fail(path, null, $"the header length field says {headerLength} bytes, larger than the {fileLength - 8} bytes that follow it (truncated or corrupt file)");

        // Bounded by MaxHeaderBytes and by the real file size, so this allocation is never a lie's size.
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        return Parse(header, fileLength - 8 - headerLength, path);
    }

    /// <summary>Validates header bytes against a data section of <paramref name="dataLength"/> bytes.</summary>
    public static SafetensorsHeader Parse(ReadOnlyMemory<byte> header, long dataLength, string path)
    {
        if (!Utf8.IsValid(header.Span))
            throw Fail(path, null, "the header is not valid UTF-8 (corrupt, or not a safetensors file)");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Fail(path, null, $"the header is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(path, null, $"the header is a JSON {root.ValueKind}, not a JSON object");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsTensorInfo>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                // JSON allows duplicate keys; a file that names a tensor twice is ambiguous, so it is refused.
                if (!seen.Add(property.Name))
                    throw Fail(path, property.Name, "the header names this entry twice");
                if (property.Name == MetadataKey)
                    ReadMetadata(property.Value, metadata, path);
                else
                    tensors.Add(ReadTensor(property.Name, property.Value, dataLength, path));
            }

            var ordered = CheckNoOverlap(tensors, path);
            return new SafetensorsHeader(header.Length, dataLength, ordered, metadata);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(path, null, $"__metadata__ is a JSON {value.ValueKind}, not an object of strings");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw Fail(path, null, $"__metadata__ entry '{entry.Name}' is a JSON {entry.Value.ValueKind}, not a string");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static SafetensorsTensorInfo ReadTensor(string name, JsonElement value, long dataLength, string path)
    {
        if (name.Length == 0)
            throw Fail(path, name, "the tensor name is empty");
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(path, name, $"the entry is a JSON {value.ValueKind}, not an object with dtype, shape and data_offsets");

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Fail(path, name, "the entry has no string 'dtype'");
        string dtype = dtypeElement.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtype, out var scalarType, out int elementSize))
            throw Fail(path, name, $"unknown or unsupported dtype '{dtype}' (supported: {string.Join(", ", SafetensorsDTypes.Names)})");

        var shape = ReadShape(name, value, path);
        var (begin, end) = ReadOffsets(name, value, path);
        if (end > dataLength)
            throw Fail(path, name, $"data_offsets [{begin}, {end}] run past the end of the data section ({dataLength} bytes): the file is truncated or the offsets are wrong");

        // Checked arithmetic: a shape such as [2^60, 16] must end in this message, never in an allocation.
        long byteCount;
        try
        {
            long elements = 1;
            foreach (var d in shape)
                elements = checked(elements * d);
            byteCount = checked(elements * elementSize);
        }
        catch (OverflowException)
        {
            throw Fail(path, name, $"shape {SafetensorsTensorInfo.FormatShape(shape)} of dtype {dtype} has a byte size that overflows 64 bits (corrupt header)");
        }
        if (byteCount != end - begin)
            throw Fail(path, name, $"shape {SafetensorsTensorInfo.FormatShape(shape)} of dtype {dtype} needs {byteCount} bytes, but data_offsets [{begin}, {end}] hold {end - begin} (size mismatch)");

        return new SafetensorsTensorInfo(name, dtype, scalarType, Array.AsReadOnly(shape), begin, end);
    }

    private static long[] ReadShape(string name, JsonElement value, string path)
    {
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Fail(path, name, "the entry has no 'shape' array");
        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim))
                throw Fail(path, name, $"shape[{i}] is {d.GetRawText()}, not an integer");
            if (dim < 0)
                throw Fail(path, name, $"shape[{i}] is {dim}: a negative dimension");
            shape[i++] = dim;
        }
        return shape;
    }

    private static (long Begin, long End) ReadOffsets(string name, JsonElement value, string path)
    {
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Fail(path, name, "the entry has no 'data_offsets' array of two integers");
        long begin = ReadOffset(offsets[0], name, path);
        long end = ReadOffset(offsets[1], name, path);
        if (begin > end)
            throw Fail(path, name, $"data_offsets [{begin}, {end}] end before they begin");
        return (begin, end);
    }

    private static long ReadOffset(JsonElement element, string name, string path)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long offset) || offset < 0)
            throw Fail(path, name, $"data offset {element.GetRawText()} is not a non-negative 64-bit integer");
        return offset;
    }

    /// <summary>Sorts the tensors by position and refuses any two that share a byte.</summary>
    /// <remarks>
    /// Gaps between tensors are allowed (they are harmless to a reader); overlaps are not, because two
    /// parameters aliasing the same bytes is never what a writer meant and would silently tie weights.
    /// Empty tensors hold no bytes and cannot overlap anything.
    /// </remarks>
    private static List<SafetensorsTensorInfo> CheckNoOverlap(List<SafetensorsTensorInfo> tensors, string path)
    {
        var ordered = tensors
            .Select((t, i) => (Tensor: t, Index: i))
            .OrderBy(x => x.Tensor.DataBegin).ThenBy(x => x.Tensor.DataEnd).ThenBy(x => x.Index)
            .Select(x => x.Tensor)
            .ToList();
        SafetensorsTensorInfo? previous = null;
        foreach (var t in ordered)
        {
            if (t.ByteLength == 0)
                continue;
            if (previous is not null && t.DataBegin < previous.DataEnd)
                throw Fail(path, t.Name, $"data_offsets [{t.DataBegin}, {t.DataEnd}] overlap those of tensor '{previous.Name}' [{previous.DataBegin}, {previous.DataEnd}]");
            previous = t;
        }
        return ordered;
    }

    private static InvalidDataException Fail(string path, string? tensor, string problem, Exception? inner = null) =>
        CheckpointFormatErrors.Create(path, tensor, problem, inner);
}
