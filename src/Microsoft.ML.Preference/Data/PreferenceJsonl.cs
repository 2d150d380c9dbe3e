
namespace Microsoft.ML.Preference.Data;

/// <summary>One line of an MMPR-style annotation file.</summary>
internal sealed class PreferenceJsonlRow
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
internal static class PreferenceJsonl
{
    /// <summary>The rows of <paramref name="path"/>, lazily.</summary>
    public static IEnumerable<PreferenceJsonlRow> Read(string path, string? imageRoot = null)
    {
        foreach (var json in Lines(path, "Annotation file"))
        {
            using (json)
            {
                yield return new PreferenceJsonlRow
                {
                    Image = Resolve(json.Images(), imageRoot), Prompt = json.RequiredText("question", "prompt"),
                    Chosen = json.RequiredText("chosen"), Rejected = json.RequiredText("rejected"),
                };
            }
        }
    }

    /// <summary>
    /// Questions for the pair pipelines from a jsonl: {"image", "question", optional "answer_gt" (or "answer"),
    /// optional "response"} per line; errors name the file and line.
    /// </summary>
    public static IEnumerable<Pairs.PairSource> ReadQuestions(string path, string? imageRoot = null)
    {
        long row = 0;
        foreach (var json in Lines(path, "Question file"))
        {
            using (json)
            {
                yield return new Pairs.PairSource(row++, Resolve(json.Images(), imageRoot).Select(p => (ImageSource)new ImageSource.FromFile(p)).ToList(),
                    json.RequiredText("question", "prompt"), json.OptionalText("answer_gt", "answer"), json.OptionalText("response"));
            }
        }
    }

    /// <summary>
    /// The 1-based line of <paramref name="path"/> that holds row <paramref name="rowIndex"/> (0-based) of
    /// <see cref="Read"/> or <see cref="ReadQuestions"/> (each non-blank line is one row), or null past the end: what
    /// turns a <see cref="BadRowException"/>'s row into a place in the file (<see cref="BadRowException.WithSource"/>).
    /// </summary>
    public static long? LineOfRow(string path, long rowIndex)
    {
        if (rowIndex < 0 || !File.Exists(path))
            return null;
        long row = 0;
        foreach (var (lineNumber, line) in Utf8Lines.Read(path))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            if (row++ == rowIndex)
                return lineNumber;
        }
        return null;
    }

    /// <summary>The non-blank lines of <paramref name="path"/>, parsed, streamed; the caller disposes each.</summary>
    private static IEnumerable<JsonLine> Lines(string path, string what)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{what} '{path}' does not exist.", path);
        foreach (var (lineNumber, line) in Utf8Lines.Read(path))
        {
            if (!string.IsNullOrWhiteSpace(line))
                yield return JsonLine.Parse(line, path, lineNumber);
        }
    }

    private static string[] Resolve(string[] images, string? imageRoot) =>
        imageRoot is null ? images : images.Select(p => Path.IsPathRooted(p) ? p : Path.Combine(imageRoot, p)).ToArray();
}
