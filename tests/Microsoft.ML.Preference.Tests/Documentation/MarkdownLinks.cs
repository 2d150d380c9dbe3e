using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Microsoft.ML.Preference.Tests.Documentation;

/// <summary>
/// Checks the relative links of markdown files the way GitHub resolves them: the path relative to the file (it must
/// exist and stay inside the repository), and a #fragment against the headings of the target file (GitHub's anchors:
/// lower case, punctuation other than '-' and '_' removed, spaces to '-', a repeated heading gets -1, -2, ...).
/// Links inside code blocks and code spans are not links; http(s) and mailto links are not checked.
/// </summary>
internal static partial class MarkdownLinks
{
    [GeneratedRegex(@"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+""[^""]*"")?\s*\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"`+[^`]*`+")]
    private static partial Regex CodeSpanPattern();

    /// <summary>The repository root: the first folder above the test binaries that holds the solution file.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Microsoft.ML.Preference.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"No Microsoft.ML.Preference.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>GitHub's anchor for a heading's text.</summary>
    public static string Slug(string heading)
    {
        var text = new StringBuilder();
        foreach (var c in heading.Trim().ToLowerInvariant())
        {
            var category = char.GetUnicodeCategory(c);
            if (char.IsLetterOrDigit(c) || c is '-' or '_' || category is UnicodeCategory.NonSpacingMark or UnicodeCategory.ConnectorPunctuation)
                text.Append(c);
            else if (c == ' ')
                text.Append('-');
        }
        return text.ToString();
    }

    /// <summary>Every anchor of a markdown text, repeated headings numbered as GitHub numbers them.</summary>
    public static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (_, line) in ProseLines(markdown))
        {
            var m = HeadingPattern().Match(line);
            if (!m.Success)
                continue;
            var slug = Slug(Regex.Replace(m.Groups[2].Value, @"\[([^\]]*)\]\([^)]*\)", "$1"));
            int n = seen.GetValueOrDefault(slug);
            seen[slug] = n + 1;
            anchors.Add(n == 0 ? slug : $"{slug}-{n}");
        }
        return anchors;
    }

    /// <summary>The (line number, target) of every link outside code.</summary>
    public static IEnumerable<(int Line, string Target)> Links(string markdown)
    {
        foreach (var (number, line) in ProseLines(markdown))
            foreach (Match m in LinkPattern().Matches(CodeSpanPattern().Replace(line, "")))
                yield return (number, m.Groups[1].Value);
    }

    /// <summary>What is wrong with the links of <paramref name="files"/>, one line each ("file:line: link: why").</summary>
    public static List<string> Problems(string root, IEnumerable<string> files)
    {
        var problems = new List<string>();
        var anchorCache = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        HashSet<string> AnchorsOf(string path) =>
            anchorCache.TryGetValue(path, out var a) ? a : anchorCache[path] = Anchors(File.ReadAllText(path));
        var rootFull = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        foreach (var file in files)
        {
            var relativeFile = Path.GetRelativePath(root, file);
            foreach (var (line, target) in Links(File.ReadAllText(file)))
            {
                if (Regex.IsMatch(target, "^[a-zA-Z][a-zA-Z0-9+.-]*:"))
                    continue; // https:, mailto:, ...
                void Report(string why) => problems.Add($"{relativeFile}:{line}: {target}: {why}");
                int hash = target.IndexOf('#');
                var pathPart = Uri.UnescapeDataString(hash < 0 ? target : target[..hash]);
                var fragment = hash < 0 ? null : Uri.UnescapeDataString(target[(hash + 1)..]);
                var resolved = pathPart.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, pathPart));
                if (!resolved.StartsWith(rootFull, StringComparison.Ordinal) && resolved != rootFull.TrimEnd(Path.DirectorySeparatorChar))
                {
                    Report("leaves the repository");
                    continue;
                }
                if (!File.Exists(resolved) && !Directory.Exists(resolved))
                {
                    Report("no such file or folder");
                    continue;
                }
                if (fragment is null)
                    continue;
                if (!resolved.EndsWith(".md", StringComparison.OrdinalIgnoreCase) || !File.Exists(resolved))
                    Report("an anchor into a file that is not markdown");
                else if (!AnchorsOf(resolved).Contains(fragment))
                    Report($"no heading with anchor '#{fragment}' in {Path.GetRelativePath(root, resolved)}");
            }
        }
        return problems;
    }

    /// <summary>Lines outside fenced code blocks, with their 1-based numbers.</summary>
    private static IEnumerable<(int Number, string Line)> ProseLines(string markdown)
    {
        string? fence = null;
        var lines = markdown.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            var trimmed = line.TrimStart();
            if (fence is null && (trimmed.StartsWith("```", StringComparison.Ordinal) || trimmed.StartsWith("~~~", StringComparison.Ordinal)))
            {
                fence = trimmed[..3];
                continue;
            }
            if (fence is not null)
            {
                if (trimmed.StartsWith(fence, StringComparison.Ordinal))
                    fence = null;
                continue;
            }
            yield return (i + 1, line);
        }
    }
}
