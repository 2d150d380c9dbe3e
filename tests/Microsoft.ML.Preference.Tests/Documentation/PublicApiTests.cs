using Microsoft.ML.Preference.Trainers;

namespace Microsoft.ML.Preference.Tests.Documentation;

/// <summary>
/// The package's public surface is the one listed in src/Microsoft.ML.Preference/PublicAPI.Shipped.txt and
/// PublicAPI.Unshipped.txt. Microsoft.CodeAnalysis.PublicApiAnalyzers checks every member at build time (RS0016/RS0017
/// fail the build); this test checks the public types once more from the compiled assembly, so a test run shows a
/// change of the surface too.
/// </summary>
public class PublicApiTests
{
    private const string Regenerate =
        "After a deliberate change of the public API, update src/Microsoft.ML.Preference/PublicAPI.Unshipped.txt: " +
        "dotnet format analyzers src/Microsoft.ML.Preference/Microsoft.ML.Preference.csproj --diagnostics RS0016 --severity info " +
        "adds the missing lines; delete the lines of removed members (the build names them, RS0017); review the diff.";

    private static string ProjectFolder => Path.Combine(MarkdownLinks.RepositoryRoot(), "src", "Microsoft.ML.Preference");

    private static SortedSet<string> ListedTypes() =>
        new(new[] { "PublicAPI.Shipped.txt", "PublicAPI.Unshipped.txt" }
            .SelectMany(f => File.ReadAllLines(Path.Combine(ProjectFolder, f)))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#') && !l.Contains('(') && !l.Contains("->") && !l.Contains('=')
                && !l.StartsWith("~", StringComparison.Ordinal) && !l.Contains(' ')),
            StringComparer.Ordinal);

    private static SortedSet<string> ExportedTypes() =>
        new(typeof(MpoTrainer).Assembly.GetExportedTypes()
            .Where(t => !t.Name.Contains('<'))   // C# 14 extension blocks' compiler-generated marker types
            .Select(t => t.FullName!.Replace('+', '.')),
            StringComparer.Ordinal);

    [Fact]
    public void EveryPublicTypeIsListedAndEveryListedTypeIsPublic()
    {
        var listed = ListedTypes();
        var exported = ExportedTypes();
        var unlisted = exported.Except(listed).ToList();
        var gone = listed.Except(exported).ToList();
        Assert.True(unlisted.Count == 0 && gone.Count == 0,
            $"Public but not listed: [{string.Join(", ", unlisted)}]; listed but not public: [{string.Join(", ", gone)}]. {Regenerate}");
    }

    [Fact]
    public void TheSurfaceIsTheDeliberateOne()
    {
        // What an ML.NET user needs stays public; modules, layers, resampling, ELF patching and CLI helpers do not.
        var exported = ExportedTypes();
        Assert.Equal(100, exported.Count);
        Assert.Contains("Microsoft.ML.Preference.Trainers.MpoTrainer.Options", exported);
        Assert.Contains("Microsoft.ML.Preference.Transformers.MpoTransformer", exported);
        Assert.Contains("Microsoft.ML.Preference.Data.PreferenceColumnNames", exported);
        Assert.DoesNotContain(exported, t => t.StartsWith("Microsoft.ML.Preference.Modeling.Language.", StringComparison.Ordinal)
            || t.StartsWith("Microsoft.ML.Preference.Modeling.Vision.", StringComparison.Ordinal)
            || t.StartsWith("Microsoft.ML.Preference.Modeling.Layers.", StringComparison.Ordinal));
        Assert.DoesNotContain("Microsoft.ML.Preference.Images.PilBicubic", exported);
        Assert.DoesNotContain("Microsoft.ML.Preference.Modeling.Lora.LoraAdapter", exported);
    }

    [Fact]
    public void TheAnalyzerChecksTheList()
    {
        var project = File.ReadAllText(Path.Combine(ProjectFolder, "Microsoft.ML.Preference.csproj"));
        Assert.Contains("Microsoft.CodeAnalysis.PublicApiAnalyzers", project, StringComparison.Ordinal);
        Assert.Contains("<AdditionalFiles Include=\"PublicAPI.Shipped.txt\" />", project, StringComparison.Ordinal);
        Assert.Contains("<AdditionalFiles Include=\"PublicAPI.Unshipped.txt\" />", project, StringComparison.Ordinal);
        Assert.Contains("RS0016;RS0017", project, StringComparison.Ordinal);
    }
}
