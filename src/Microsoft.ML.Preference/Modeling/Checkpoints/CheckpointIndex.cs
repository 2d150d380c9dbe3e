using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// <c>model.safetensors.index.json</c>: which shard holds which tensor, read with every shard name checked
/// to stay inside the checkpoint folder, and written in the exact JSON shape Hugging Face writes.
/// </summary>
/// <param name="Path">The index file.</param>
/// <param name="DeclaredTotalSize"><c>metadata.total_size</c>, when present.</param>
/// <param name="WeightMap">Tensor name to shard file name (relative to the folder).</param>
/// <param name="Shards">The distinct shard file names, in ordinal order (which is shard-number order).</param>
internal sealed record CheckpointIndex(
    string Path,
    long? DeclaredTotalSize,
    IReadOnlyDictionary<string, string> WeightMap,
    IReadOnlyList<string> Shards)
{
    public const string FileName = "model.safetensors.index.json";

    /// <summary>An index is a name list; anything this large is not one.</summary>
    private const long MaxIndexBytes = 256L * 1024 * 1024;

    /// <summary>Reads and validates an index; shard names are checked, shard contents are not (the caller does that).</summary>
    public static CheckpointIndex Read(string indexPath, string folder)
    {
        var length = new FileInfo(indexPath).Length;
        if (length > MaxIndexBytes)
            throw Fail(indexPath, null, $"the index is {length} bytes, more than the {MaxIndexBytes / (1024 * 1024)} MiB an index can plausibly need");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(indexPath), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Fail(indexPath, null, $"the index is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(indexPath, null, $"the index is a JSON {root.ValueKind}, not an object");
            long? totalSize = ReadTotalSize(root, indexPath);

            if (!root.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw Fail(indexPath, null, "the index has no 'weight_map' object");
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw Fail(indexPath, entry.Name, $"the weight_map value is a JSON {entry.Value.ValueKind}, not a shard file name");
                var shard = entry.Value.GetString()!;
                CheckShardName(shard, folder, indexPath, entry.Name);
                if (!weightMap.TryAdd(entry.Name, shard))
                    throw Fail(indexPath, entry.Name, "the weight_map lists this tensor twice");
            }
            if (weightMap.Count == 0)
                throw Fail(indexPath, null, "the weight_map is empty");

            var shards = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
            return new CheckpointIndex(indexPath, totalSize, weightMap.AsReadOnly(), Array.AsReadOnly(shards));
        }
    }

    private static long? ReadTotalSize(JsonElement root, string indexPath)
    {
        if (!root.TryGetProperty("metadata", out var metadata) || metadata.ValueKind != JsonValueKind.Object
            || !metadata.TryGetProperty("total_size", out var total))
            return null;
        // Some exporters wrote total_size as a float (16060522496.0); an integral value is accepted either way.
        if (total.ValueKind == JsonValueKind.Number)
        {
            if (total.TryGetInt64(out long asLong) && asLong >= 0)
                return asLong;
            if (total.TryGetDouble(out double asDouble) && asDouble >= 0 && asDouble <= long.MaxValue && Math.Floor(asDouble) == asDouble)
                return (long)asDouble;
        }
        throw Fail(indexPath, null, $"metadata.total_size is {total.GetRawText()}, not a non-negative integer");
    }

    /// <summary>
    /// Refuses a shard name that could reach outside the folder: absolute paths, <c>..</c> segments,
    /// backslashes (a separator on Windows), NULs; and anything that is not a <c>.safetensors</c> file,
    /// since a <c>.bin</c> shard would be a pickle.
    /// </summary>
    internal static void CheckShardName(string shard, string folder, string indexPath, string tensorName)
    {
        string Problem()
        {
            if (string.IsNullOrWhiteSpace(shard))
                return "the shard file name is empty";
            if (shard.Contains('\0') || shard.Contains('\\'))
                return $"the shard file name '{shard}' contains a NUL or a backslash";
            if (System.IO.Path.IsPathRooted(shard) || shard.StartsWith('/') || shard.Contains(':'))
                return $"the shard file name '{shard}' is an absolute path; shards must be inside the checkpoint folder";
            if (shard.Split('/').Any(segment => segment == ".."))
                return $"the shard file name '{shard}' contains '..' and would leave the checkpoint folder";
            if (!shard.EndsWith(".safetensors", StringComparison.Ordinal))
                return $"the shard file name '{shard}' is not a .safetensors file (pickle shards are refused)";
            var root = System.IO.Path.GetFullPath(folder);
            var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(root, shard));
            if (!full.StartsWith(System.IO.Path.TrimEndingDirectorySeparator(root) + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
                return $"the shard file name '{shard}' resolves outside the checkpoint folder";
            return "";
        }

        var problem = Problem();
        if (problem.Length > 0)
            throw Fail(indexPath, tensorName, problem);
    }

    /// <summary>
    /// Writes an index the way transformers does (<c>json.dumps(index, indent=2, sort_keys=True) + "\n"</c>):
    /// <c>metadata.total_size</c>, then the weight map sorted by tensor name.
    /// </summary>
    public static void Write(string indexPath, long totalSize, IEnumerable<KeyValuePair<string, string>> weightMap)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var options = new JsonWriterOptions
        {
            Indented = true,
            IndentSize = 2,
            NewLine = "\n",
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        using (var json = new Utf8JsonWriter(buffer, options))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", totalSize);
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (name, shard) in weightMap.OrderBy(e => e.Key, StringComparer.Ordinal))
                json.WriteString(name, shard);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        AtomicFile.Write(indexPath, stream =>
        {
            stream.Write(buffer.WrittenSpan);
            stream.WriteByte((byte)'\n');
        });
    }

    private static InvalidDataException Fail(string path, string? tensor, string problem, Exception? inner = null) =>
        CheckpointFormatErrors.Create(path, tensor, problem, inner);
}
