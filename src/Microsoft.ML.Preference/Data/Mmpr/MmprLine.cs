using System.Text.Json;

namespace Microsoft.ML.Preference.Data.Mmpr;

/// <summary>One parsed line of an MMPR annotation file.</summary>
internal readonly record struct MmprRow(string[] Images, string Prompt, string Chosen, string Rejected, string AnswerGt);

/// <summary>Parses and checks one MMPR jsonl line; every error names the file and the line.</summary>
internal static class MmprLine
{
    public const string ImagePlaceholder = "<image>";

    public static MmprRow Parse(string line, string file, long lineNumber, string root)
    {
        InvalidDataException Bad(string problem, Exception? inner = null) => new($"{file}:{lineNumber}: {problem}", inner);
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
            var o = document.RootElement;
            if (o.ValueKind != JsonValueKind.Object)
                throw Bad("each line must be a JSON object");
            string Text(params string[] names)
            {
                foreach (var name in names)
                    if (o.TryGetProperty(name, out var value))
                        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Bad($"\"{name}\" must be a string");
                throw Bad($"missing \"{names[0]}\"");
            }
            string[] images = [];
            if (o.TryGetProperty("image", out var image))
            {
                images = image.ValueKind switch
                {
                    JsonValueKind.String => [image.GetString()!],
                    JsonValueKind.Array => image.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Bad("\"image\" lists must hold strings")).ToArray(),
                    JsonValueKind.Null => [],
                    _ => throw Bad("\"image\" must be a path or a list of paths"),
                };
            }
            for (int i = 0; i < images.Length; i++)
                images[i] = Resolve(images[i], root, Bad);
            var prompt = Text("question", "prompt");
            int placeholders = Count(prompt, ImagePlaceholder);
            if (placeholders > 0 && placeholders != images.Length)
                throw Bad($"the question has {placeholders} \"{ImagePlaceholder}\" placeholder(s) but the line has {images.Length} image(s)");
            string answer = "";
            if (o.TryGetProperty("answer_gt", out var gt))
            {
                answer = gt.ValueKind switch
                {
                    JsonValueKind.String => gt.GetString()!,
                    JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => gt.GetRawText(),
                    JsonValueKind.Null => "",
                    _ => throw Bad("\"answer_gt\" must be a string or a number"),
                };
            }
            return new MmprRow(images, prompt, Text("chosen"), Text("rejected"), answer);
        }
    }

    /// <summary>The full path of <paramref name="path"/> under <paramref name="root"/>; a path that leaves the root is refused.</summary>
    private static string Resolve(string path, string root, Func<string, Exception?, InvalidDataException> bad)
    {
        if (path.Length == 0)
            throw bad("an image path is empty", null);
        string full;
        try
        {
            full = Path.GetFullPath(path, root);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw bad($"image path '{path}' is not a valid path ({e.Message})", e);
        }
        if (!IsUnder(full, root))
            throw bad($"image path '{path}' resolves to '{full}', outside the data set's root '{root}'; refused", null);
        return full;
    }

    internal static bool IsUnder(string fullPath, string root)
    {
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        var prefix = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        return fullPath.StartsWith(prefix, comparison);
    }

    private static int Count(string text, string what)
    {
        int count = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
