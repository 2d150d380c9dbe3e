using System.Text.Json;
using Microsoft.ML.Preference.Text.Prompts;

namespace Microsoft.ML.Preference.Data.Mmpr;

/// <summary>One parsed line of an MMPR annotation file.</summary>
internal readonly record struct MmprRow(string[] Images, string Prompt, string Chosen, string Rejected, string AnswerGt);

/// <summary>Parses and checks one MMPR jsonl line; every error names the file and the line.</summary>
internal static class MmprLine
{
    public const string ImagePlaceholder = ImagePlaceholders.Placeholder;

    public static MmprRow Parse(string line, string file, long lineNumber, string root)
    {
        using var json = JsonLine.Parse(line, file, lineNumber);
        var images = json.Images();
        for (int i = 0; i < images.Length; i++)
            images[i] = Resolve(images[i], root, json.Error);
        var prompt = json.RequiredText("question", "prompt");
        int placeholders = ImagePlaceholders.Count(prompt);
        if (placeholders > 0 && placeholders != images.Length)
            throw json.Error($"the question has {placeholders} \"{ImagePlaceholder}\" placeholder(s) but the line has {images.Length} image(s)");
        string answer = "";
        if (json.Root.TryGetProperty("answer_gt", out var gt))
        {
            answer = gt.ValueKind switch
            {
                JsonValueKind.String => gt.GetString()!,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => gt.GetRawText(),
                JsonValueKind.Null => "",
                _ => throw json.Error("\"answer_gt\" must be a string or a number"),
            };
        }
        return new MmprRow(images, prompt, json.RequiredText("chosen"), json.RequiredText("rejected"), answer);
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
}
