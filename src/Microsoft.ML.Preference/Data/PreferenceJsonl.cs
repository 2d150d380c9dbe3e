using System.Text.Json;

namespace Microsoft.ML.Preference.Data;

/// <summary>One line of an MMPR-style annotation file.</summary>
public sealed class PreferenceJsonlRow
{
    /// <summary>The row's image paths (an MMPR "image" may be one string or a list; empty for text-only).</summary>
    public string[] Image { get; set; } = [];
    /// <summary>The question ("question", or "prompt").</summary>
    public string Prompt { get; set; } = "";
    /// <summary>The preferred response.</summary>
    public string Chosen { get; set; } = "";
    /// <summary>The dispreferred response.</summary>
    public string Rejected { get; set; } = "";
}

/// <summary>
/// Reads a JSONL annotation file in MMPR's line format — {"image": path or [paths], "question", "chosen",
/// "rejected"} — streaming line by line. A malformed line is an error naming the file and the line number.
/// Relative image paths are resolved against <c>imageRoot</c>.
/// </summary>
public static class PreferenceJsonl
{
    /// <summary>The rows of <paramref name="path"/>, lazily.</summary>
    public static IEnumerable<PreferenceJsonlRow> Read(string path, string? imageRoot = null)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Annotation file '{path}' does not exist.", path);
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            yield return Parse(line, path, lineNumber, imageRoot);
        }
    }

    /// <summary>
    /// Questions for the pair pipelines from a jsonl: {"image", "question", optional "answer_gt" (or "answer"),
    /// optional "response"} per line; errors name the file and line.
    /// </summary>
    public static IEnumerable<Pairs.PairSource> ReadQuestions(string path, string? imageRoot = null)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Question file '{path}' does not exist.", path);
        int lineNumber = 0;
        long row = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            var (images, fields) = ParseFields(line, path, lineNumber, imageRoot, ["question", "prompt"], ["answer_gt", "answer"], ["response"]);
            yield return new Pairs.PairSource(row++, images.Select(p => (ImageSource)new ImageSource.FromFile(p)).ToList(),
                fields[0]!, fields[1], fields[2]);
        }
    }

    private static PreferenceJsonlRow Parse(string line, string path, int lineNumber, string? imageRoot)
    {
        var (images, fields) = ParseFields(line, path, lineNumber, imageRoot, ["question", "prompt"], ["chosen"], ["rejected"]);
        if (fields[1] is null)
            throw new InvalidDataException($"{path}:{lineNumber}: missing \"chosen\"");
        if (fields[2] is null)
            throw new InvalidDataException($"{path}:{lineNumber}: missing \"rejected\"");
        return new PreferenceJsonlRow { Image = images, Prompt = fields[0]!, Chosen = fields[1]!, Rejected = fields[2]! };
    }

    /// <summary>The image paths and the named text fields (the first name list is required, the others optional).</summary>
    private static (string[] Images, string?[] Fields) ParseFields(string line, string path, int lineNumber, string? imageRoot, params string[][] fieldNames)
    {
        InvalidDataException Bad(string problem, Exception? inner = null) => new($"{path}:{lineNumber}: {problem}", inner);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw Bad($"not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Bad("each line must be a JSON object");
            string? Text(string[] names)
            {
                foreach (var name in names)
                    if (root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
                        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Bad($"\"{name}\" must be a string");
                return null;
            }
            string[] images = [];
            if (root.TryGetProperty("image", out var image))
            {
                images = image.ValueKind switch
                {
                    JsonValueKind.String => [image.GetString()!],
                    JsonValueKind.Array => image.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Bad("\"image\" lists must hold strings")).ToArray(),
                    JsonValueKind.Null => [],
                    _ => throw Bad("\"image\" must be a path or a list of paths"),
                };
            }
            if (imageRoot is not null)
                images = images.Select(p => Path.IsPathRooted(p) ? p : Path.Combine(imageRoot, p)).ToArray();
            var fields = fieldNames.Select(Text).ToArray();
            if (fields[0] is null)
                throw Bad($"missing \"{fieldNames[0][0]}\"");
            return (images, fields);
        }
    }
}
