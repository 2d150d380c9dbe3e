using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data.Synthetic;
using Microsoft.ML.Preference.Generation;
using SkiaSharp;

namespace Microsoft.ML.Preference.Tests.Data;

public sealed class SyntheticReasoningTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mlpref-synth-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private SyntheticReasoningDataset Generate(string name, int seed, int train = 80, int test = 40, int imageSize = 56,
        IReadOnlyList<SyntheticTaskFamily>? families = null) =>
        SyntheticReasoningGenerator.Generate(new SyntheticReasoningOptions
        {
            OutputFolder = Path.Combine(_root, name), TrainCount = train, TestCount = test, Seed = seed, ImageSize = imageSize,
            Families = families ?? SyntheticReasoningGenerator.AllFamilies,
        });

    private static IEnumerable<SyntheticReasoningItem> All(SyntheticReasoningDataset set) => set.Train.Concat(set.Test);

    [Fact]
    public void SameSeedGivesSameItemsAndImageBytes()
    {
        var a = Generate("a", seed: 3);
        var b = Generate("b", seed: 3);
        var left = All(a).ToList();
        var right = All(b).ToList();
        Assert.Equal(left.Count, right.Count);
        for (int i = 0; i < left.Count; i++)
        {
            Assert.Equal(left[i].Question, right[i].Question);
            Assert.Equal(left[i].Answer, right[i].Answer);
            Assert.Equal(left[i].Rationale, right[i].Rationale);
            Assert.Equal(left[i].Family, right[i].Family);
            Assert.Equal(Path.GetFileName(left[i].ImagePath), Path.GetFileName(right[i].ImagePath));
            Assert.Equal(File.ReadAllBytes(left[i].ImagePath), File.ReadAllBytes(right[i].ImagePath));
        }
    }

    [Fact]
    public void ARerunInTheSameFolderLeavesItsImagesUntouchedAndMendsADamagedOne()
    {
        var first = All(Generate("a", seed: 3)).Select(i => i.ImagePath).Distinct().ToList();
        var old = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        foreach (var file in first)
            File.SetLastWriteTimeUtc(file, old);
        var good = File.ReadAllBytes(first[1]);
        File.WriteAllBytes(first[1], good[..(good.Length / 2)]); // what a kill in the middle of a write leaves
        File.SetLastWriteTimeUtc(first[1], old);

        var again = All(Generate("a", seed: 3)).Select(i => i.ImagePath).Distinct().ToList();
        Assert.Equal(first, again);
        // Unchanged files keep their time (training fingerprints and caches made from them stay valid) ...
        Assert.All(again.Where(f => f != first[1]), f => Assert.Equal(old, File.GetLastWriteTimeUtc(f)));
        // ... and the cut one is written again, whole.
        Assert.Equal(good, File.ReadAllBytes(first[1]));
    }

    [Fact]
    public void DifferentSeedGivesDifferentItems()
    {
        var a = Generate("a", seed: 0);
        var b = Generate("b", seed: 1);
        Assert.NotEqual(a.Train.Select(i => i.ContentKey), b.Train.Select(i => i.ContentKey));
        Assert.NotEqual(a.Test.Select(i => i.ContentKey), b.Test.Select(i => i.ContentKey));
    }

    [Fact]
    public void TestSplitDoesNotDependOnTrainCount()
    {
        var a = Generate("a", seed: 5, train: 10, test: 30);
        var b = Generate("b", seed: 5, train: 70, test: 30);
        Assert.Equal(a.Test.Select(i => i.ContentKey), b.Test.Select(i => i.ContentKey));
    }

    [Fact]
    public void RationalesEndInTheGroundTruth()
    {
        foreach (var item in All(Generate("a", seed: 1, train: 200, test: 100)))
        {
            var lines = item.Rationale.Split('\n');
            Assert.InRange(lines.Length, 2, 4);
            Assert.Equal("Final answer: " + item.Answer, lines[^1]);
            Assert.True(item.Rationale.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Length < 40, item.Rationale);
            Assert.Equal(item.Answer, AnswerExtractor.Extract(item.Rationale).Answer);
            Assert.Matches("^([0-9]+|[AB])$", item.Answer);
        }
    }

    [Fact]
    public void WrongRationalesExtractToAnotherAnswer()
    {
        foreach (var item in All(Generate("a", seed: 2, train: 200, test: 100)))
        {
            var wrong = SyntheticReasoningGenerator.WrongRationales(item);
            Assert.NotEmpty(wrong);
            Assert.Equal(wrong.Count, wrong.Distinct().Count());
            foreach (var rationale in wrong)
            {
                var extracted = AnswerExtractor.Extract(rationale);
                Assert.True(extracted.Succeeded, rationale);
                Assert.NotEqual(item.Answer, extracted.Answer);
                Assert.StartsWith("Final answer: ", rationale.Split('\n')[^1]);
            }
        }
    }

    [Fact]
    public void TrainAndTestAreDisjointAcrossSeeds()
    {
        var trainKeys = new HashSet<string>();
        var testKeys = new HashSet<string>();
        foreach (int seed in new[] { 0, 1, 2 })
        {
            var set = Generate("s" + seed, seed, train: 300, test: 100);
            Assert.All(set.Train, i => Assert.Equal(SyntheticSplit.Train, i.Split));
            Assert.All(set.Test, i => Assert.Equal(SyntheticSplit.Test, i.Split));
            trainKeys.UnionWith(set.Train.Select(i => i.ContentKey));
            testKeys.UnionWith(set.Test.Select(i => i.ContentKey));
            // Identical (question, image) pairs never cross the splits either.
            var trainPairs = set.Train.Select(i => (i.Question, Convert.ToBase64String(File.ReadAllBytes(i.ImagePath)))).ToHashSet();
            Assert.DoesNotContain(set.Test, i => trainPairs.Contains((i.Question, Convert.ToBase64String(File.ReadAllBytes(i.ImagePath)))));
        }
        Assert.Empty(trainKeys.Intersect(testKeys));
        Assert.True(testKeys.Count > 50, $"only {testKeys.Count} distinct test items");
    }

    [Fact]
    public void TestQuestionsAskKnownFactsAboutUnseenImages()
    {
        // The style (shift and ink) is part of the content key: a test image is never a training image, but the
        // same numbers and questions recur, so the facts a rationale uses (7 + 5 = 12) can be learnt from training.
        var set = Generate("facts", seed: 0, train: 400, test: 100, families: [SyntheticTaskFamily.Arithmetic]);
        static string Content(SyntheticReasoningItem i) => i.ContentKey[..i.ContentKey.LastIndexOf("|style=", StringComparison.Ordinal)];
        var trainByContent = set.Train.GroupBy(Content).ToDictionary(g => g.Key, g => g.First());
        var shared = set.Test.Where(i => trainByContent.ContainsKey(Content(i))).ToList();
        Assert.True(shared.Count >= set.Test.Count / 2, $"only {shared.Count} of {set.Test.Count} test questions recur in training");
        foreach (var item in shared)
        {
            var twin = trainByContent[Content(item)];
            Assert.Equal(twin.Question, item.Question);
            Assert.Equal(twin.Rationale, item.Rationale);
            Assert.NotEqual(File.ReadAllBytes(twin.ImagePath), File.ReadAllBytes(item.ImagePath));
        }
    }

    [Fact]
    public void RationalesCopyTheirOwnNumbersForward()
    {
        // Every step a small model must take is local: the numbers read in the first line are the ones the second
        // line computes with, in the same order, and the last line repeats the result.
        var set = Generate("steps", seed: 4, train: 200, test: 0, families: [SyntheticTaskFamily.Arithmetic, SyntheticTaskFamily.BarComparison]);
        foreach (var item in set.Train)
        {
            var lines = item.Rationale.Split('\n');
            var read = System.Text.RegularExpressions.Regex.Matches(lines[0], "[0-9]+").Select(m => m.Value).ToList();
            var used = System.Text.RegularExpressions.Regex.Matches(lines[1], "[0-9]+").Select(m => m.Value).Take(2).ToList();
            Assert.Equal(read, used);
            if (item.FamilyKind == SyntheticTaskFamily.Arithmetic)
                Assert.EndsWith("= " + item.Answer + ".", lines[1]);
            else
                Assert.Equal(item.Answer == "A" ? "left" : "right", lines[1].Split(' ')[5]);
        }
    }

    [Theory]
    [InlineData(56)]
    [InlineData(112)]
    public void ImagesDecodeAtTheRequestedSize(int size)
    {
        var set = Generate("a", seed: 4, train: 12, test: 8, imageSize: size);
        foreach (var item in All(set))
        {
            Assert.True(Path.IsPathRooted(item.ImagePath));
            using var bitmap = SKBitmap.Decode(item.ImagePath);
            Assert.NotNull(bitmap);
            Assert.Equal(size, bitmap.Width);
            Assert.Equal(size, bitmap.Height);
            // Something is drawn: not every pixel is white.
            Assert.Contains(bitmap.Pixels, p => p != SKColors.White);
        }
    }

    [Fact]
    public void EveryFamilyAppearsInBothSplits()
    {
        var set = Generate("a", seed: 0, train: 8, test: 4);
        var names = SyntheticReasoningGenerator.AllFamilies.Select(SyntheticReasoningGenerator.FamilyName).ToHashSet();
        Assert.Equal(4, names.Count);
        Assert.Equal(names, set.Train.Select(i => i.Family).ToHashSet());
        Assert.Equal(names, set.Test.Select(i => i.Family).ToHashSet());
        var multipleChoice = set.Train.First(i => i.FamilyKind == SyntheticTaskFamily.BarComparison);
        Assert.Contains("\nA. ", multipleChoice.Question);
        Assert.Contains("\nB. ", multipleChoice.Question);
    }

    [Fact]
    public void FamiliesOptionRestrictsTheDraw()
    {
        var set = Generate("a", seed: 0, train: 10, test: 5, families: [SyntheticTaskFamily.Arithmetic]);
        Assert.All(All(set), i => Assert.Equal("arithmetic", i.Family));
    }

    [Fact]
    public void DataViewsHaveTheColumnsAndRowCounts()
    {
        var mlContext = new MLContext(seed: 0);
        var (train, test) = mlContext.Preference.Data.LoadSyntheticReasoning(Path.Combine(_root, "dv"), trainCount: 17, testCount: 9, seed: 1);
        foreach (var (view, count) in new[] { (train, 17), (test, 9) })
        {
            foreach (var name in new[] { "Image", "Prompt", "AnswerGt", "Rationale", "Family" })
                Assert.IsType<TextDataViewType>(view.Schema[name].Type);
            var rows = mlContext.Data.CreateEnumerable<SyntheticReasoningRow>(view, reuseRowObject: false).ToList();
            Assert.Equal(count, rows.Count);
            Assert.All(rows, r =>
            {
                Assert.True(File.Exists(r.Image));
                Assert.Equal(r.AnswerGt, AnswerExtractor.Extract(r.Rationale).Answer);
            });
        }
    }

    [Fact]
    public void CatalogArgumentsOverrideOptionsWithoutChangingThem()
    {
        var options = new SyntheticReasoningOptions { Families = [SyntheticTaskFamily.Counting], ImageSize = 112, Seed = 9, TrainCount = 1 };
        var (train, _) = new MLContext(0).Preference.Data.LoadSyntheticReasoning(Path.Combine(_root, "o"), 6, 2, seed: 3, options);
        Assert.Equal(6, train.GetRowCount() ?? -1);
        Assert.Equal(9, options.Seed);
        Assert.Equal(1, options.TrainCount);
        Assert.Equal("", options.OutputFolder);
    }

    [Fact]
    public void BadOptionsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => SyntheticReasoningGenerator.Generate(new SyntheticReasoningOptions()));
        Assert.Throws<ArgumentOutOfRangeException>(() => Generate("x", 0, imageSize: 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => Generate("x", 0, train: -1));
        Assert.Throws<ArgumentException>(() => Generate("x", 0, families: []));
    }
}
