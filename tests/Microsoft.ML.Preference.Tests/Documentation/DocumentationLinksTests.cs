using Microsoft.ML.Preference.Tests.Text;

namespace Microsoft.ML.Preference.Tests.Documentation;

/// <summary>The README, docs/ and every other markdown file of the repository: links resolve, anchors exist.</summary>
public sealed class DocumentationLinksTests
{
    /// <summary>
    /// README.md, the package readme, docs/**/*.md and the markdown beside the code and test data.
    /// </summary>
    private static List<string> MarkdownFiles(string root)
    {
        var skip = new[] { "bin", "obj", ".git", "node_modules", "artifacts", "nuget" }
            .Select(s => Path.Combine(root, s) + Path.DirectorySeparatorChar).ToList();
        return Directory.EnumerateFiles(root, "*.md", SearchOption.AllDirectories)
            .Where(f => !skip.Any(s => f.StartsWith(s, StringComparison.Ordinal))
                        && !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj" or "quickstart-output"))
            .Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public void EveryRelativeLinkAndAnchorResolves()
    {
        var root = MarkdownLinks.RepositoryRoot();
        var files = MarkdownFiles(root);
        Assert.Contains(Path.Combine(root, "README.md"), files);
        Assert.Contains(Path.Combine(root, "src", "Microsoft.ML.Preference", "README.md"), files);
        Assert.True(files.Count(f => f.StartsWith(Path.Combine(root, "docs"), StringComparison.Ordinal)) >= 15, "docs/ has fewer pages than it should");
        var problems = MarkdownLinks.Problems(root, files);
        Assert.True(problems.Count == 0, "Broken links:\n" + string.Join('\n', problems));
        // The check has something to check: the README links into docs/ with anchors.
        Assert.Contains(MarkdownLinks.Links(File.ReadAllText(Path.Combine(root, "README.md"))), l => l.Target.StartsWith("docs/", StringComparison.Ordinal) && l.Target.Contains('#'));
    }

    [Fact]
    public void TheReadmeIsAtMost12KiB() =>
        Assert.InRange(new FileInfo(Path.Combine(MarkdownLinks.RepositoryRoot(), "README.md")).Length, 2_000, 12 * 1024);

    [Theory]
    [InlineData("Loss ablation (`mpo ablation`)", "loss-ablation-mpo-ablation")]
    [InlineData("Building pairs (MMPR's data engine)", "building-pairs-mmprs-data-engine")]
    [InlineData("What Microsoft.ML.Tokenizers does, and what this package adds", "what-microsoftmltokenizers-does-and-what-this-package-adds")]
    [InlineData("Direct pairs (`--direct-pairs`)", "direct-pairs---direct-pairs")]
    [InlineData("CoT − Direct", "cot--direct")]
    [InlineData("snake_case and Ünïcode", "snake_case-and-ünïcode")]
    public void AnchorsFollowGitHub(string heading, string anchor) => Assert.Equal(anchor, MarkdownLinks.Slug(heading));

    [Fact]
    public void BrokenLinksAnchorsAndEscapesAreReportedWithFileAndLine()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(Path.Combine(dir.Path, "docs"));
        dir.Write("docs/b.md", "# Title\n## Title\n");
        var a = dir.Write("docs/a.md", string.Join('\n',
            "# Here",
            "[ok](b.md#title) [ok again](b.md#title-1) [self](#here) [folder](.) [web](https://example.com/#x)",
            "[missing file](c.md) [missing anchor](b.md#nope)",
            "[outside](../../x.md) `[in code](nowhere.md)`",
            "```",
            "[in a fence](nowhere.md)",
            "```",
            "[no self anchor](#there)"));

        var problems = MarkdownLinks.Problems(dir.Path, [a]);

        Assert.Equal(4, problems.Count);
        Assert.StartsWith(Path.Combine("docs", "a.md") + ":3: c.md: no such file", problems[0]);
        Assert.StartsWith(Path.Combine("docs", "a.md") + ":3: b.md#nope: no heading", problems[1]);
        Assert.StartsWith(Path.Combine("docs", "a.md") + ":4: ../../x.md: leaves the repository", problems[2]);
        Assert.StartsWith(Path.Combine("docs", "a.md") + ":8: #there: no heading", problems[3]);
    }
}
