using System.Text.Json;

namespace Microsoft.ML.Preference.Data.Mmpr;

/// <summary>How a fractional <c>repeat_time</c> (below 1) picks its lines.</summary>
public enum MmprSubsampling
{
    /// <summary>
    /// floor(lines × repeat_time) lines drawn uniformly without replacement, the same for the same seed: InternVL's MPO
    /// training script draws <c>random.sample(lines, k=int(len(lines) * repeat_time))</c> under the run's seed
    /// (<c>LazySupervisedDataset</c> in internvl_chat/internvl/train/internvl_chat_mpo.py). The lines are kept in file
    /// order (selection sampling over a streamed count: nothing is held in memory); InternVL shuffles them afterwards
    /// anyway, as the trainer here does. Python's generator cannot be reproduced, so the draw is the same in kind, not the
    /// same lines. The default.
    /// </summary>
    Seeded,
    /// <summary>
    /// The first floor(lines × repeat_time) lines: what InternVL's supervised fine-tuning script does
    /// (<c>self.raw_data[:int(len(self.raw_data) * repeat_time)]</c> in internvl_chat/internvl/train/internvl_chat_finetune.py),
    /// and this package's earlier default; kept as an option.
    /// </summary>
    Prefix,
}

/// <summary>One entry of an MMPR <c>meta.json</c>.</summary>
/// <param name="Name">The data set's name (the key in meta.json; the Source column of its rows).</param>
/// <param name="Root">The image folder, absolute. Image paths are resolved against it and must stay inside it.</param>
/// <param name="Annotation">The jsonl file, absolute.</param>
/// <param name="RepeatTime">InternVL's <c>repeat_time</c>: below 1 a fraction of the lines, above 1 a whole number of passes.</param>
/// <param name="MaxDynamicPatch">InternVL's optional per-data-set <c>max_dynamic_patch</c> (tiles per image), null when absent.</param>
public sealed record MmprDataset(string Name, string Root, string Annotation, double RepeatTime, int? MaxDynamicPatch)
{
    /// <summary>
    /// Reads <paramref name="metaJsonPath"/>: an object mapping names to {"root", "annotation", "repeat_time"?,
    /// "max_dynamic_patch"?}, in file order. Relative roots and annotation paths are taken relative to the meta.json's
    /// folder (InternVL takes them relative to the working directory; a folder that carries its own meta.json is then
    /// relocatable). A missing or empty root is that folder. Errors name the file and the entry.
    /// </summary>
    public static IReadOnlyList<MmprDataset> ReadMeta(string metaJsonPath)
    {
        ArgumentNullException.ThrowIfNull(metaJsonPath);
        if (!File.Exists(metaJsonPath))
            throw new FileNotFoundException($"MMPR meta file '{metaJsonPath}' does not exist.", metaJsonPath);
        var folder = Path.GetDirectoryName(Path.GetFullPath(metaJsonPath))!;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(Utf8Lines.ReadAll(metaJsonPath), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{metaJsonPath}: not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{metaJsonPath}: must be a JSON object mapping data set names to {{\"root\", \"annotation\", \"repeat_time\"}}");
            var result = new List<MmprDataset>();
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                InvalidDataException Bad(string problem) => new($"{metaJsonPath}: data set \"{entry.Name}\": {problem}");
                if (entry.Value.ValueKind != JsonValueKind.Object)
                    throw Bad("must be an object with \"root\" and \"annotation\"");
                var value = entry.Value;
                string? Text(string name) => value.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
                    ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad($"\"{name}\" must be a string")
                    : null;
                var annotation = Text("annotation") ?? throw Bad("\"annotation\" (the jsonl path) is missing");
                var root = Text("root");
                double repeat = 1;
                if (value.TryGetProperty("repeat_time", out var r) && r.ValueKind != JsonValueKind.Null)
                {
                    if (r.ValueKind != JsonValueKind.Number || !double.IsFinite(repeat = r.GetDouble()) || repeat < 0)
                        throw Bad($"\"repeat_time\" must be a number >= 0, not {r.GetRawText()}");
                    if (repeat > 1 && repeat != Math.Floor(repeat))
                        throw Bad($"\"repeat_time\" {r.GetRawText()}: above 1 it must be a whole number of passes (InternVL's rule)");
                }
                int? maxPatch = null;
                if (value.TryGetProperty("max_dynamic_patch", out var mp) && mp.ValueKind != JsonValueKind.Null)
                    maxPatch = mp.ValueKind == JsonValueKind.Number && mp.TryGetInt32(out var n) && n >= 1 && n <= Images.DynamicTiling.MaxSupportedTiles ? n
                        : throw Bad($"\"max_dynamic_patch\" must be a whole number from 1 to {Images.DynamicTiling.MaxSupportedTiles}, not {mp.GetRawText()}");
                var annotationPath = Path.GetFullPath(annotation, folder);
                if (!File.Exists(annotationPath))
                    throw Bad($"annotation file '{annotationPath}' does not exist");
                var rootPath = string.IsNullOrEmpty(root) ? folder : Path.GetFullPath(root, folder);
                result.Add(new MmprDataset(entry.Name, Path.TrimEndingDirectorySeparator(rootPath), annotationPath, repeat, maxPatch));
            }
            return result;
        }
    }
}
