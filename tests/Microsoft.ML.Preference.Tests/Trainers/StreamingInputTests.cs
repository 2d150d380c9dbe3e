using System.Collections.Concurrent;
using System.Text;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Mmpr;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>The streamed training input: the line index, the indexed MMPR rows, the epoch order, the prefetching loader, and Fit on top of them.</summary>
public class StreamingInputTests
{
    [Fact]
    public void LineIndexFindsTheLinesAStreamReaderReadsWithTheirNumbers()
    {
        var folder = Directory.CreateTempSubdirectory("mlpref-index-");
        try
        {
            var path = Path.Combine(folder.FullName, "a.jsonl");
            // A BOM, CRLF and LF ends, blank and whitespace-only lines, non-ASCII text, no newline at the end.
            var text = "\uFEFF{\"a\":1}\r\n\r\n   \n{\"b\":\"é–ü\"}\n\t\r\n{\"c\":3}";
            File.WriteAllText(path, text, new UTF8Encoding(false));
            using var index = JsonlLineIndex.Build(path);
            var expected = File.ReadLines(path).Select((line, i) => (Line: line, Number: i + 1L)).Where(x => !string.IsNullOrWhiteSpace(x.Line)).ToList();
            Assert.Equal(3, index.Count);
            Assert.Equal(expected.Select(x => x.Line), Enumerable.Range(0, index.Count).Select(index.Read));
            Assert.Equal([1L, 4L, 6L], Enumerable.Range(0, index.Count).Select(index.LineNumber));
            Assert.Equal(Encoding.UTF8.GetByteCount("{\"b\":\"é–ü\"}"), index.ByteLength(1));

            // A line longer than the 1 MiB scan buffer, whose CR falls right at a buffer's end.
            var line = "{\"k\":\"" + new string('x', (1 << 20) - 9) + "\"}"; // 2^20 - 1 bytes: its CR is the buffer's last byte
            File.WriteAllText(path, line + "\r\n{\"z\":0}\n", new UTF8Encoding(false));
            using var index2 = JsonlLineIndex.Build(path);
            Assert.Equal(2, index2.Count);
            Assert.Equal(line, index2.Read(0));
            Assert.Equal("{\"z\":0}", index2.Read(1));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(2.0, MmprSubsampling.Seeded)]
    [InlineData(0.5, MmprSubsampling.Seeded)]
    [InlineData(0.5, MmprSubsampling.Prefix)]
    public void IndexedMmprRowsAreTheDataViewsRowsInOrder(double repeat, MmprSubsampling subsampling)
    {
        var folder = Directory.CreateTempSubdirectory("mlpref-mmpr-src-");
        try
        {
            var meta = WriteMmpr(folder.FullName, [("first", 7, repeat), ("empty", 0, 1.0), ("second", 5, 1.0)]);
            var view = new MLContext(1).Preference.Data.LoadMmpr(meta, seed: 4, subsampling);
            var columns = new PreferenceColumns(PreferenceColumnNames.Image, PreferenceColumnNames.Prompt, PreferenceColumnNames.Chosen, PreferenceColumnNames.Rejected);
            var streamed = PreferenceDataReader.Read(view, columns).ToList();
            using var source = PreferenceRowSource.For(view, columns, null);
            Assert.IsType<MmprRowSource>(source);
            Assert.Equal(streamed.Count, source.Count);
            Assert.Equal((int)(7 * repeat) + 5, source.Count);
            for (int i = 0; i < streamed.Count; i++)
            {
                var read = source.Read(i);
                Assert.Equal(streamed[i].RowIndex, read.RowIndex);
                Assert.Equal(streamed[i].Prompt, read.Prompt);
                Assert.Equal(streamed[i].Chosen, read.Chosen);
                Assert.Equal(streamed[i].Images, read.Images);
            }
            // The same set indexed again has the same key; a touched file another.
            using (var again = PreferenceRowSource.For(view, columns, null))
                Assert.Equal(source.Fingerprint(), again.Fingerprint());
            File.AppendAllText(Path.Combine(folder.FullName, "second.jsonl"), "\n");
            File.SetLastWriteTimeUtc(Path.Combine(folder.FullName, "second.jsonl"), DateTime.UtcNow.AddMinutes(1));
            using (var touched = PreferenceRowSource.For(view, columns, null))
                Assert.NotEqual(source.Fingerprint(), touched.Fingerprint());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void AMalformedLineIsABadRowNamingFileAndLine()
    {
        var folder = Directory.CreateTempSubdirectory("mlpref-mmpr-bad-");
        try
        {
            var meta = WriteMmpr(folder.FullName, [("set", 6, 1.0)]);
            var file = Path.Combine(folder.FullName, "set.jsonl");
            var lines = File.ReadAllLines(file).ToList();
            lines.Insert(2, "");                 // a blank line: line numbers count it
            lines[4] = "{\"question\": \"cut";   // row 3, line 5
            File.WriteAllLines(file, lines);
            var view = new MLContext(1).Preference.Data.LoadMmpr(meta);
            using var source = PreferenceRowSource.For(view, new PreferenceColumns(PreferenceColumnNames.Image, PreferenceColumnNames.Prompt, PreferenceColumnNames.Chosen, PreferenceColumnNames.Rejected), null);
            Assert.Equal(6, source.Count);
            var e = Assert.Throws<BadRowException>(() => source.Read(3));
            Assert.Equal(BadRowReason.MalformedLine, e.Reason);
            Assert.Equal(3, e.RowIndex);
            Assert.Contains("set.jsonl:5", e.Message);
            Assert.Equal("question 4", source.Read(4).Prompt);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void LengthGroupingAcrossStepsSortsEachWindowAndShufflesWholeSteps()
    {
        // 10 rows, steps of 2, windows of 2 steps (4 rows). Lengths by row:
        int[] lengths = [5, 9, 1, 7, 3, 8, 2, 6, 4, 0];
        int[] order = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        // Window [0..3] sorted longest first: 1 (9), 3 (7), 0 (5), 2 (1) -> steps [1, 3] and [0, 2]; window [4..7]:
        // 5 (8), 7 (6), 4 (3), 6 (2) -> [5, 7], [4, 6]; the last window [8, 9] is one step: 8 (4), 9 (0).
        // The steps of each window are then shuffled by the same Random as this copy of it.
        var expectedSteps = new[] { new[] { new[] { 1, 3 }, [0, 2] }, [[5, 7], [4, 6]], [[8, 9]] };
        var mirror = new Random(11);
        foreach (var window in expectedSteps)
            mirror.Shuffle(window.AsSpan());
        EpochOrder.GroupAcrossSteps(order, stepRows: 2, steps: 2, i => lengths[i], new Random(11));
        Assert.Equal(expectedSteps.SelectMany(w => w).SelectMany(step => step), order);

        // A short last step stays last: 5 rows in steps of 2, one window of 3 steps; sorted 1, 3, 0, 4, 2.
        int[] five = [0, 1, 2, 3, 4];
        var seen = new HashSet<string>();
        for (int seed = 0; seed < 20; seed++)
        {
            var copy = five.ToArray();
            EpochOrder.GroupAcrossSteps(copy, stepRows: 2, steps: 3, i => lengths[i], new Random(seed));
            Assert.Equal(2, copy[4]);
            Assert.Equal([0, 1, 3, 4], copy[..4].Order());
            seen.Add(string.Join(",", copy));
        }
        Assert.Equal(["0,4,1,3,2", "1,3,0,4,2"], seen.Order(StringComparer.Ordinal));

        // Within a run: an epoch is a permutation whose steps hold rows of similar length, and the order is a function
        // of the seed and epoch alone (a resumed run sees the same).
        Func<int, int> length = i => (i * 37) % 11;
        var grouped = new EpochOrder(40, seed: 5, batchSize: 4, accumulation: 1, lengthOf: length, lengthGroupedSteps: 5);
        var again = new EpochOrder(40, seed: 5, batchSize: 4, accumulation: 1, lengthOf: length, lengthGroupedSteps: 5);
        var plain = new EpochOrder(40, seed: 5, batchSize: 4, accumulation: 1, lengthOf: null);
        Assert.Equal(Enumerable.Range(0, 40), grouped.For(0).Order());
        Assert.Equal(grouped.For(1), again.For(1));
        double Spread(EpochOrder o) => Enumerable.Range(0, 10).Average(b => o.MicroBatch(b).Max(length) - o.MicroBatch(b).Min(length));
        Assert.True(Spread(grouped) < Spread(plain) / 2, $"grouped spread {Spread(grouped)}, plain {Spread(plain)}");
    }

    [Fact]
    public void LengthGroupingFollowsInternVLsSplitToEvenChunks()
    {
        // Lengths by row: a mega-batch of 4 rows dealt into 2 micro-batches. Sorted longest first: 9 (row 2), 7 (row 0),
        // 4 (row 3), 1 (row 1). 9 -> chunk 0; 7 -> chunk 1 (7 < 9); 4 -> chunk 1 (7 < 9), now full; 1 -> chunk 0.
        int[] lengths = [7, 1, 9, 4];
        int[] order = [0, 1, 2, 3];
        EpochOrder.GroupByLength(order, megabatch: 4, chunks: 2, i => lengths[i]);
        Assert.Equal([2, 1, 0, 3], order);
        // 5 rows into 2 chunks do not divide: a strided split of the sorted rows, [s0, s2, s4] then [s1, s3].
        int[] five = [0, 1, 2, 3, 4];
        int[] fiveLengths = [3, 5, 1, 4, 2]; // sorted: 1 (5), 3 (4), 0 (3), 4 (2), 2 (1)
        EpochOrder.GroupByLength(five, megabatch: 5, chunks: 2, i => fiveLengths[i]);
        Assert.Equal([1, 0, 2, 3, 4], five);

        // Within a run: each step holds the rows the plain shuffle gives it, only regrouped.
        var plain = new EpochOrder(40, seed: 5, batchSize: 2, accumulation: 2, lengthOf: null);
        var grouped = new EpochOrder(40, seed: 5, batchSize: 2, accumulation: 2, lengthOf: i => (i * 37) % 11, groupWithinStep: true);
        for (int step = 0; step < 10; step++)
        {
            Assert.Equal(plain.MicroBatch(2 * step).Concat(plain.MicroBatch(2 * step + 1)).Order(),
                grouped.MicroBatch(2 * step).Concat(grouped.MicroBatch(2 * step + 1)).Order());
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void TheLoaderGivesTheOrdersRowsAndAResumedOneReadsNothingBeforeItsPosition(int workers)
    {
        using var toy = new ToyPreferenceData();
        using var vlm = VisionLanguageModel.Load(toy.ModelPath, global::TorchSharp.torch.ScalarType.Float32, global::TorchSharp.torch.CPU, 256, null);
        var preparer = new PreferenceRowPreparer(vlm);
        var rows = toy.Rows(20, seed: 3).Select((r, i) => new PreferenceExample(i, [new ImageSource.FromFile(r.Image)], r.Prompt, r.Chosen, r.Rejected)).ToList();
        rows[9] = rows[9] with { Chosen = " " };
        using var source = new CountingSource(rows);
        var order = new EpochOrder(rows.Count, seed: 11, batchSize: 3, accumulation: 1, lengthOf: null);
        const int start = 5, end = 12; // from the middle of epoch 0 into epoch 1 (7 micro-batches an epoch)
        using (var loader = new PrefetchingBatchLoader(source, preparer, order, start, end, workers, capacity: 2))
        {
            for (int k = start; k < end; k++)
            {
                using var batch = loader.Take(k);
                var expected = order.MicroBatch(k);
                Assert.Equal(expected.Where(p => p != 9).Select(p => (long)p), batch.Rows.Select(r => r.RowIndex));
                Assert.Equal(expected.Contains(9) ? [9L] : [], batch.BadRows.Select(b => b.RowIndex));
                for (int i = 0; i < batch.Rows.Count; i++)
                    Assert.Equal(batch.Rows[i].TilesPerImage.Sum(), (int)batch.Tiles[i]!.shape[0]);
            }
        }
        var before = Enumerable.Range(0, start).SelectMany(order.MicroBatch).ToHashSet();
        var after = Enumerable.Range(start, end - start).SelectMany(order.MicroBatch).ToHashSet();
        Assert.DoesNotContain(source.ReadPositions, p => before.Contains(p) && !after.Contains(p));
        Assert.True(source.ReadPositions.All(after.Contains));
    }

    [Fact]
    public void ARunKilledWithAFullPrefetchQueueResumesExactly()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(24, seed: 7));
        MpoTrainer.Options Options(string output)
        {
            var o = MpoTrainerLearningTests.Fast(toy);
            o.BatchSize = 2;
            o.MaxSteps = 8; // at step 3, five micro-batches remain: enough to fill a queue of 2 workers x 2
            o.SaveSteps = 2;
            o.DataLoaderWorkers = 2;
            o.DataLoaderPrefetchFactor = 2;
            o.OutputDirectory = Path.Combine(toy.Root, output);
            return o;
        }
        double[] full;
        using (var m = ml.Preference.Trainers.Mpo(Options("full")).Fit(data))
            full = m.TrainingHistory.Select(h => h["loss"]).ToArray();

        var killed = Options("killed");
        var queueFull = new ManualResetEventSlim();
        killed.PrefetchFullSignal = queueFull;
        bool sawFullQueue = false;
        killed.Progress = new SynchronousProgress(m =>
        {
            if (m.Step != 3)
                return;
            // The training thread is held here while the workers fill the queue (the signal mirrors its state); then
            // the process "dies".
            sawFullQueue = queueFull.Wait(TimeSpan.FromSeconds(60));
            throw new KilledException();
        });
        Assert.Throws<KilledException>(() => ml.Preference.Trainers.Mpo(killed).Fit(data));
        Assert.True(sawFullQueue, "the prefetch queue never filled");
        Assert.False(Directory.Exists(Path.Combine(killed.OutputDirectory!, "checkpoint-3"))); // a kill writes nothing

        var resumed = Options("killed");
        resumed.ResumeFromCheckpoint = "latest";
        using var r = ml.Preference.Trainers.Mpo(resumed).Fit(data);
        Assert.Equal(3, r.TrainingHistory[0].Step);
        var tail = r.TrainingHistory.Select(h => h["loss"]).ToArray();
        Assert.Equal(6, tail.Length);
        for (int i = 0; i < tail.Length; i++)
            Assert.Equal(full[2 + i], tail[i], 1e-6);
    }

    [Fact]
    public void BadLinesDeepInAnMmprFileAreSkippedAndCountedOrFailWithFileAndLine()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var folder = Path.Combine(toy.Root, "mmpr");
        var meta = ml.Preference.Data.SaveMmpr(ml.Data.LoadFromEnumerable(toy.Rows(30, seed: 5)), folder, "toy");
        var file = Path.Combine(folder, "toy.jsonl");
        var lines = File.ReadAllLines(file);
        lines[21] = "{\"image\": \"images/red-0.png\", \"question\": \"broken";          // line 22: not JSON
        lines[25] = lines[25].Replace("\"chosen\"", "\"chosen_answer\"");               // line 26: no chosen
        lines[27] = lines[27].Replace(".png\"", "-gone.png\"");                        // line 28: a missing image
        File.WriteAllLines(file, lines);

        var o = MpoTrainerLearningTests.Fast(toy);
        o.BatchSize = 5;
        o.ImageRoot = null;
        var e = Assert.Throws<BadRowException>(() => ml.Preference.Trainers.Mpo(o).Fit(ml.Preference.Data.LoadMmpr(meta)));
        Assert.Contains(e.RowIndex, new long[] { 21, 25, 27 });
        if (e.Reason == BadRowReason.MalformedLine)
            Assert.Contains($"toy.jsonl:{e.RowIndex + 1}", e.Message);

        o.BadRows = BadRowPolicy.Skip;
        var metrics = new List<TrainingMetrics>();
        o.Progress = new SynchronousProgress(metrics.Add);
        using var model = ml.Preference.Trainers.Mpo(o).Fit(ml.Preference.Data.LoadMmpr(meta));
        Assert.Equal(2, model.SkippedRows["MalformedLine"]);
        Assert.Equal(1, model.SkippedRows["MissingImage"]);
        Assert.Equal(6, model.TrainingHistory.Count); // one epoch of 30 rows in batches of 5
        Assert.Equal(3, metrics[^1]["data/skipped_rows"]);
        Assert.True(metrics.Zip(metrics.Skip(1)).All(p => p.Second["data/skipped_rows"] >= p.First["data/skipped_rows"]));
    }

    private static string WriteMmpr(string folder, (string Name, int Lines, double Repeat)[] sets)
    {
        var entries = new List<string>();
        foreach (var (name, count, repeat) in sets)
        {
            var lines = Enumerable.Range(0, count).Select(i =>
                $"{{\"image\": \"img-{i}.png\", \"question\": \"question {i}\", \"chosen\": \"{name} yes {i}\", \"rejected\": \"{name} no {i}\"}}");
            File.WriteAllLines(Path.Combine(folder, name + ".jsonl"), lines);
            entries.Add($"\"{name}\": {{\"root\": \"{folder}\", \"annotation\": \"{name}.jsonl\", \"repeat_time\": {repeat.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}");
        }
        var meta = Path.Combine(folder, "meta.json");
        File.WriteAllText(meta, "{" + string.Join(",", entries) + "}");
        return meta;
    }

    private sealed class KilledException : Exception;

    private sealed class SynchronousProgress(Action<TrainingMetrics> report) : IProgress<TrainingMetrics>
    {
        public void Report(TrainingMetrics value) => report(value);
    }

    /// <summary>An in-memory source that records every position read.</summary>
    private sealed class CountingSource(IReadOnlyList<PreferenceExample> rows) : PreferenceRowSource
    {
        private readonly InMemoryRowSource _inner = new(rows, "test rows");

        public ConcurrentBag<int> ReadPositions { get; } = [];

        public override int Count => _inner.Count;

        public override string Description => _inner.Description;

        public override PreferenceExample Read(int index)
        {
            ReadPositions.Add(index);
            return _inner.Read(index);
        }

        public override int ApproximateLength(int index) => _inner.ApproximateLength(index);

        public override string Fingerprint() => _inner.Fingerprint();
    }
}
