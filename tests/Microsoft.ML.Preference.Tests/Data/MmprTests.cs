using System.Text;
using System.Text.Json;
using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Mmpr;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Tests.Trainers;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Tests.Data;

public sealed class MmprTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmpr-tests-" + Guid.NewGuid().ToString("N"));
    private readonly MLContext _ml = new(seed: 0);

    public MmprTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed record Row(string[] Image, string Prompt, string Chosen, string Rejected, string AnswerGt, string Source);

    private static List<Row> Rows(IDataView view)
    {
        var rows = new List<Row>();
        using var cursor = view.GetRowCursor(view.Schema);
        var image = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(view.Schema[PreferenceColumnNames.Image]);
        var text = new[] { PreferenceColumnNames.Prompt, PreferenceColumnNames.Chosen, PreferenceColumnNames.Rejected, PreferenceColumnNames.AnswerGt, PreferenceColumnNames.Source }.Select(n => cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema[n])).ToArray();
        VBuffer<ReadOnlyMemory<char>> images = default;
        while (cursor.MoveNext())
        {
            image(ref images);
            var values = text.Select(g => { ReadOnlyMemory<char> v = default; g(ref v); return v.ToString(); }).ToArray();
            rows.Add(new Row(images.DenseValues().Select(v => v.ToString()).ToArray(), values[0], values[1], values[2], values[3], values[4]));
        }
        return rows;
    }

    private static string Line(object image, string question, string chosen = "c", string rejected = "r", string? answer = null)
    {
        var o = new Dictionary<string, object?> { ["image"] = image, ["question"] = question, ["chosen"] = chosen, ["rejected"] = rejected };
        if (answer is not null)
            o["answer_gt"] = answer;
        return JsonSerializer.Serialize(o);
    }

    private string Meta(params (string Name, string Root, string Annotation, double? Repeat)[] entries)
    {
        var meta = entries.ToDictionary(e => e.Name, e =>
        {
            var d = new Dictionary<string, object> { ["root"] = e.Root, ["annotation"] = e.Annotation };
            if (e.Repeat is double r)
                d["repeat_time"] = r;
            return d;
        });
        var path = Path.Combine(_dir, "meta.json");
        File.WriteAllText(path, JsonSerializer.Serialize(meta));
        return path;
    }

    private string Write(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void LoadsColumnsPathsAndSources()
    {
        Write("a.jsonl",
            Line("x/1.jpg", "<image>\nHow many?", "Two. Final answer: 2", "Three. Final answer: 3", "2"),
            "",
            Line(new[] { "x/2.jpg", "y/3.png" }, "Image-1: <image>\nImage-2: <image>\nSame?", answer: "yes"));
        Write("b.jsonl", """{"question": "2+2?", "chosen": "4", "rejected": "5"}""");
        var view = _ml.Preference.Data.LoadMmpr(Meta(("first", "images", "a.jsonl", null), ("second", "", "b.jsonl", 1)));
        // Spelled out: the names are the public contract that PreferenceColumnNames holds.
        Assert.Equal(["Image", "Prompt", "Chosen", "Rejected", "AnswerGt", "Source", "MaxDynamicPatch"], view.Schema.Select(c => c.Name));
        Assert.IsType<VectorDataViewType>(view.Schema[PreferenceColumnNames.Image].Type);
        var rows = Rows(view);
        Assert.Equal(3, rows.Count);
        var images = Path.Combine(_dir, "images");
        Assert.Equal([Path.Combine(images, "x", "1.jpg")], rows[0].Image);
        Assert.Equal(("<image>\nHow many?", "Two. Final answer: 2", "2", "first"), (rows[0].Prompt, rows[0].Chosen, rows[0].AnswerGt, rows[0].Source));
        Assert.Equal([Path.Combine(images, "x", "2.jpg"), Path.Combine(images, "y", "3.png")], rows[1].Image);
        Assert.Equal(("", "second", "4"), (rows[2].AnswerGt, rows[2].Source, rows[2].Chosen));
        Assert.Empty(rows[2].Image);
        Assert.Equal(2, view.Datasets.Count);
        Assert.Equal(images, view.Datasets[0].Root);
    }

    [Fact]
    public void LoadedDataFitsTheTrainersColumns()
    {
        Write("a.jsonl", Line("1.jpg", "<image>\nq"));
        var view = _ml.Preference.Data.LoadMmpr(Meta(("d", "img", "a.jsonl", null)));
        new Microsoft.ML.Preference.Data.PreferenceColumns().Validate(view.Schema);
    }

    [Fact]
    public void QuestionWithoutPlaceholderIsKeptAsIs()
    {
        Write("a.jsonl", Line("1.jpg", "What colour is the cube?"));
        var rows = Rows(_ml.Preference.Data.LoadMmpr(Meta(("d", "img", "a.jsonl", null))));
        Assert.Equal("What colour is the cube?", rows.Single().Prompt);
    }

    [Theory]
    [InlineData("../secret.jpg")]
    [InlineData("x/../../secret.jpg")]
    [InlineData("/etc/passwd")]
    public void ImagePathLeavingTheRootIsRefusedWithFileAndLine(string image)
    {
        var file = Write("a.jsonl", Line("ok.jpg", "<image>\nq"), Line(image, "<image>\nq"));
        var view = _ml.Preference.Data.LoadMmpr(Meta(("d", "img", "a.jsonl", null)));
        var e = Assert.Throws<InvalidDataException>(() => Rows(view));
        Assert.Contains($"{file}:2:", e.Message);
        Assert.Contains(image, e.Message);
        Assert.Contains("outside the data set's root", e.Message);
    }

    [Fact]
    public void AbsolutePathInsideTheRootIsAccepted()
    {
        var inside = Path.Combine(_dir, "img", "a.jpg");
        Write("a.jsonl", Line(inside, "<image>\nq"));
        Assert.Equal([inside], Rows(_ml.Preference.Data.LoadMmpr(Meta(("d", "img", "a.jsonl", null)))).Single().Image);
    }

    [Theory]
    [InlineData("<image>\n<image>\nq", 1)]
    [InlineData("<image>\nq", 2)]
    [InlineData("<image>\nq", 0)]
    public void PlaceholderCountDifferentFromImagesIsAnError(string question, int imageCount)
    {
        object image = imageCount switch { 0 => Array.Empty<string>(), 1 => "a.jpg", _ => new[] { "a.jpg", "b.jpg" } };
        var file = Write("a.jsonl", Line("ok.jpg", "q"), "", Line(image, question));
        var e = Assert.Throws<InvalidDataException>(() => Rows(_ml.Preference.Data.LoadMmpr(Meta(("d", "img", "a.jsonl", null)))));
        Assert.Contains($"{file}:3:", e.Message);
        Assert.Contains("placeholder", e.Message);
    }

    [Theory]
    [InlineData("{\"question\": \"q\", \"chosen\": \"c\"", "not valid JSON")]
    [InlineData("{\"question\": \"q\", \"chosen\": \"c\"}", "missing \"rejected\"")]
    [InlineData("[1, 2]", "JSON object")]
    [InlineData("{\"question\": 3, \"chosen\": \"c\", \"rejected\": \"r\"}", "\"question\" must be a string")]
    [InlineData("{\"image\": 5, \"question\": \"q\", \"chosen\": \"c\", \"rejected\": \"r\"}", "\"image\" must be")]
    public void MalformedLinesNameFileAndLine(string bad, string problem)
    {
        var file = Write("a.jsonl", Line("ok.jpg", "q"), Line("ok.jpg", "q"), bad);
        var e = Assert.Throws<InvalidDataException>(() => Rows(_ml.Preference.Data.LoadMmpr(Meta(("d", "img", "a.jsonl", null)))));
        Assert.Contains($"{file}:3:", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void MetaErrorsNameTheEntry()
    {
        Write("a.jsonl", Line("ok.jpg", "q"));
        var e = Assert.Throws<InvalidDataException>(() => _ml.Preference.Data.LoadMmpr(Meta(("d", "img", "missing.jsonl", null))));
        Assert.Contains("data set \"d\"", e.Message);
        Assert.Contains("missing.jsonl", e.Message);
        e = Assert.Throws<InvalidDataException>(() => _ml.Preference.Data.LoadMmpr(Meta(("d", "img", "a.jsonl", 2.5))));
        Assert.Contains("whole number", e.Message);
        e = Assert.Throws<InvalidDataException>(() => _ml.Preference.Data.LoadMmpr(Meta(("d", "img", "a.jsonl", -1))));
        Assert.Contains("repeat_time", e.Message);
        Assert.Throws<FileNotFoundException>(() => _ml.Preference.Data.LoadMmpr(Path.Combine(_dir, "none.json")));
    }

    [Fact]
    public void MaxDynamicPatchIsRead()
    {
        Write("a.jsonl", Line("ok.jpg", "q"));
        var path = Path.Combine(_dir, "meta.json");
        File.WriteAllText(path, """{"d": {"root": "img", "annotation": "a.jsonl", "repeat_time": 1, "max_dynamic_patch": 6}, "e": {"root": "img", "annotation": "a.jsonl"}}""");
        var view = _ml.Preference.Data.LoadMmpr(path);
        Assert.Equal([6, null], view.Datasets.Select(d => d.MaxDynamicPatch));
        Assert.Equal([1.0, 1.0], view.Datasets.Select(d => d.RepeatTime));
        // Every row carries its data set's value (0: none), and the trainer's reader turns it into the row's own budget.
        Assert.Equal([6, 0], view.GetColumn<int>(PreferenceColumnNames.MaxDynamicPatch));
        var examples = PreferenceDataReader.Read(view, new PreferenceColumns()).ToList();
        Assert.Equal([6, null], examples.Select(e => e.MaxDynamicPatch));

        File.WriteAllText(path, """{"d": {"root": "img", "annotation": "a.jsonl", "max_dynamic_patch": 5000}}""");
        Assert.Contains("max_dynamic_patch", Assert.Throws<InvalidDataException>(() => _ml.Preference.Data.LoadMmpr(path)).Message);
    }

    [Fact]
    public void ADataSetsMaxDynamicPatchTilesItsRowsInTraining()
    {
        using var toy = new ToyPreferenceData();   // the model's own max_dynamic_patch is 1
        var wide = Path.Combine(_dir, "img", "wide.png");
        Directory.CreateDirectory(Path.GetDirectoryName(wide)!);
        using (var bitmap = new SkiaSharp.SKBitmap(224, 56))
        {
            bitmap.Erase(SkiaSharp.SKColors.Teal);
            using var png = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(wide, png.ToArray());
        }
        Write("wide.jsonl", Line("wide.png", "<image>\nWhat colour is it?", chosen: "Teal.", rejected: "Red."));
        var path = Path.Combine(_dir, "meta.json");
        File.WriteAllText(path, """{"tiled": {"root": "img", "annotation": "wide.jsonl", "max_dynamic_patch": 4}, "plain": {"root": "img", "annotation": "wide.jsonl"}}""");
        using var vlm = VisionLanguageModel.Load(toy.ModelPath);
        var preparer = new PreferenceRowPreparer(vlm);
        var rows = PreferenceDataReader.Read(_ml.Preference.Data.LoadMmpr(path), new PreferenceColumns()).Select(preparer.Prepare).ToList();
        // 224×56 is four 56-pixel tiles side by side: with 4 allowed, InternVL's plan is 4×1 tiles and the thumbnail.
        int expected = 4 + (vlm.Images.Options.UseThumbnail ? 1 : 0);
        Assert.Equal([expected], rows[0].TilesPerImage);
        Assert.Equal([1], rows[1].TilesPerImage);
        using var tiles = preparer.Tiles(rows[0])!;
        Assert.Equal([expected, 3, 56, 56], tiles.shape);
    }

    private string Numbered(int count) =>
        Write("n.jsonl", Enumerable.Range(0, count).Select(i => Line($"{i}.jpg", "<image>\nq", chosen: $"c{i}")).ToArray());

    [Fact]
    public void WholeRepeatTimeRepeatsTheWholeFile()
    {
        Numbered(5);
        var rows = Rows(_ml.Preference.Data.LoadMmpr(Meta(("d", "img", "n.jsonl", 3))));
        Assert.Equal(Enumerable.Range(0, 3).SelectMany(_ => Enumerable.Range(0, 5)).Select(i => $"c{i}"), rows.Select(r => r.Chosen));
    }

    [Fact]
    public void FractionalRepeatTimeTakesThatFractionDeterministically()
    {
        Numbered(100);
        var meta = Meta(("d", "img", "n.jsonl", 0.37));
        var a = Rows(_ml.Preference.Data.LoadMmpr(meta, seed: 1)).Select(r => r.Chosen).ToList();
        var b = Rows(_ml.Preference.Data.LoadMmpr(meta, seed: 1)).Select(r => r.Chosen).ToList();
        var c = Rows(_ml.Preference.Data.LoadMmpr(meta, seed: 2)).Select(r => r.Chosen).ToList();
        Assert.Equal(37, a.Count);
        Assert.Equal(a, b);
        Assert.Equal(37, c.Count);
        Assert.NotEqual(a, c);
        Assert.Equal(37, a.Distinct().Count());
        var order = a.Select(s => int.Parse(s[1..])).ToList();
        Assert.Equal(order.Order(), order);                 // file order is kept
        Assert.NotEqual(Enumerable.Range(0, 37), order);    // not just the first lines

        var prefix = Rows(_ml.Preference.Data.LoadMmpr(meta, subsampling: MmprSubsampling.Prefix)).Select(r => r.Chosen);
        Assert.Equal(Enumerable.Range(0, 37).Select(i => $"c{i}"), prefix);   // InternVL's fine-tuning rule

        Assert.Empty(Rows(_ml.Preference.Data.LoadMmpr(Meta(("d", "img", "n.jsonl", 0)))));
    }

    [Fact]
    public void SaveThenLoadGivesTheSameRows()
    {
        Write("a.jsonl",
            Line("x/1.jpg", "<image>\nHow many? \"quoted\" ünïcödé", "Final answer: 2", "Final answer: 3", "2"),
            Line(new[] { "x/2.jpg", "y/3.png" }, "<image><image>\nSame?", answer: "yes"),
            """{"question": "text only", "chosen": "4", "rejected": "5"}""");
        Write("b.jsonl", Line("z/9.jpg", "q", "c\nwith a newline", "r\ttab"));
        var original = _ml.Preference.Data.LoadMmpr(Meta(("first", "images", "a.jsonl", null), ("second", "images", "b.jsonl", null)));
        var before = Rows(original);

        var outDir = Path.Combine(_dir, "out");
        var metaPath = _ml.Preference.Data.SaveMmpr(original, outDir, "all");
        Assert.Equal(Path.Combine(outDir, "meta.json"), metaPath);
        var after = Rows(_ml.Preference.Data.LoadMmpr(metaPath));
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++)
        {
            Assert.Equal(before[i].Image, after[i].Image);
            Assert.Equal((before[i].Prompt, before[i].Chosen, before[i].Rejected, before[i].AnswerGt, "all"), (after[i].Prompt, after[i].Chosen, after[i].Rejected, after[i].AnswerGt, after[i].Source));
        }
        // The paths in the file are relative to the root, and the root is the images folder.
        var firstLine = File.ReadLines(Path.Combine(outDir, "all.jsonl")).First();
        Assert.Contains("\"image\":\"x/1.jpg\"", firstLine);
        using var meta = JsonDocument.Parse(File.ReadAllText(metaPath));
        Assert.Equal(Path.Combine(_dir, "images"), meta.RootElement.GetProperty("all").GetProperty("root").GetString());

        // A second save of one data set into the same folder keeps the first entry, and both load again.
        var second = _ml.Data.FilterByCustomPredicate<SourceRow>(original, r => r.Source == "second");   // true drops the row
        _ml.Preference.Data.SaveMmpr(second, outDir, "first", imageRoot: Path.Combine(_dir, "images"));
        var both = _ml.Preference.Data.LoadMmpr(metaPath);
        Assert.Equal(["all", "first"], both.Datasets.Select(d => d.Name));
        var reread = Rows(both);
        Assert.Equal(before.Count + 3, reread.Count);
        Assert.Equal(before.Take(3).Select(r => r with { Source = "" }), reread.Skip(before.Count).Select(r => r with { Source = "" }), new RowComparer());
    }

    [Fact]
    public void SaveRefusesAnImageOutsideTheGivenRoot()
    {
        Write("a.jsonl", Line("x/1.jpg", "q"));
        var view = _ml.Preference.Data.LoadMmpr(Meta(("d", "images", "a.jsonl", null)));
        var e = Assert.Throws<InvalidDataException>(() => _ml.Preference.Data.SaveMmpr(view, Path.Combine(_dir, "out"), "d", imageRoot: Path.Combine(_dir, "other")));
        Assert.Contains("not under the image root", e.Message);
    }

    private sealed class SourceRow
    {
        public string Source { get; set; } = "";
    }

    private sealed class RowComparer : IEqualityComparer<Row>
    {
        public bool Equals(Row? x, Row? y) => x!.Image.SequenceEqual(y!.Image) && (x.Prompt, x.Chosen, x.Rejected, x.AnswerGt, x.Source) == (y.Prompt, y.Chosen, y.Rejected, y.AnswerGt, y.Source);
        public int GetHashCode(Row obj) => obj.Prompt.GetHashCode();
    }

    [Fact]
    public void StreamsAMillionLinesInBoundedMemory()
    {
        const int count = 1_000_000;
        var path = Path.Combine(_dir, "big.jsonl");
        using (var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16))
        {
            for (int i = 0; i < count; i++)
                writer.Write($"{{\"image\": \"d{i % 97}/{i}.jpg\", \"question\": \"<image>\\nHow many objects are in picture {i}?\", \"chosen\": \"Counting them one by one. Final answer: {i % 7}\", \"rejected\": \"Final answer: {i % 5}\", \"answer_gt\": \"{i % 7}\"}}\n");
        }
        var view = _ml.Preference.Data.LoadMmpr(Meta(("big", "img", "big.jsonl", null)));
        long baseline = GC.GetTotalMemory(forceFullCollection: true), peak = 0, rows = 0, chars = 0;
        using (var cursor = view.GetRowCursor(view.Schema))
        {
            var chosen = cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema[PreferenceColumnNames.Chosen]);
            var image = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(view.Schema[PreferenceColumnNames.Image]);
            ReadOnlyMemory<char> c = default;
            VBuffer<ReadOnlyMemory<char>> im = default;
            while (cursor.MoveNext())
            {
                chosen(ref c);
                image(ref im);
                chars += c.Length + im.GetValues()[0].Length;
                if (++rows % 200_000 == 0)
                    peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true) - baseline);
            }
        }
        Assert.Equal(count, rows);
        Assert.True(chars > 0);
        Assert.True(peak < 100L << 20, $"managed memory grew by {peak >> 20} MB while streaming");
        Assert.True(new FileInfo(path).Length > 100L << 20, "the file is larger than the memory bound");
    }
}
