using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Transformers;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>
/// MpoTransformer.Transform's view, with a generator that counts what it is asked to generate: nothing before a cursor
/// reads Response or Answer, only the batches a cursor reaches, and nothing twice while the cache holds it.
/// </summary>
public sealed class LazyResponsesDataViewTests
{
    private sealed class Question
    {
        public string Prompt { get; set; } = "";
    }

    private sealed class Counting
    {
        public List<long> Rows { get; } = [];
        public int Calls { get; private set; }

        public IReadOnlyList<(string, string)> Generate(IReadOnlyList<PreferenceExample> batch)
        {
            Calls++;
            Rows.AddRange(batch.Select(r => r.RowIndex));
            return batch.Select(r => ($"response to {r.Prompt}", $"answer {r.RowIndex}")).ToList();
        }
    }

    private static (MLContext, LazyResponsesDataView, Counting) View(int rows, int batchSize, int cachedRows = 1024, CancellationToken cancellation = default)
    {
        var ml = new MLContext(seed: 0);
        var input = ml.Data.LoadFromEnumerable(Enumerable.Range(0, rows).Select(i => new Question { Prompt = $"q{i}" }));
        var counting = new Counting();
        var view = new LazyResponsesDataView(input, new PreferenceColumns(null, PreferenceColumnNames.Prompt, PreferenceColumnNames.Prompt, PreferenceColumnNames.Prompt), counting.Generate,
            batchSize, cachedRows, ((IHostEnvironment)ml).Register("test"), cancellation);
        return (ml, view, counting);
    }

    private static List<string> Read(IDataView view, string column, int rows)
    {
        using var cursor = view.GetRowCursor([view.Schema[column]]);
        var get = cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema[column]);
        var values = new List<string>();
        ReadOnlyMemory<char> value = default;
        while (values.Count < rows && cursor.MoveNext())
        {
            get(ref value);
            values.Add(value.ToString());
        }
        return values;
    }

    [Theory]
    [InlineData(5, 10)]  // ten rows are two batches of five
    [InlineData(4, 12)]  // the third batch of four holds rows 8 and 9
    [InlineData(8, 16)]
    public void PreviewingTenRowsOfALargeSetGeneratesTheBatchesThatHoldThem(int batchSize, int expected)
    {
        var (_, view, counting) = View(100_000, batchSize);
        Assert.Equal(0, counting.Calls); // nothing at construction

        var preview = view.Preview(maxRows: 10);

        Assert.Equal(10, preview.RowView.Length);
        Assert.Equal(expected, counting.Rows.Count);
        Assert.Equal(Enumerable.Range(0, expected).Select(i => (long)i), counting.Rows);
        Assert.Equal("response to q9", preview.RowView[9].Values.Single(v => v.Key == PreferenceColumnNames.Response).Value.ToString());
        Assert.Equal("answer 9", preview.RowView[9].Values.Single(v => v.Key == PreferenceColumnNames.Answer).Value.ToString());
        Assert.Equal(expected, view.RowsGenerated);
    }

    [Fact]
    public void ACursorThatReadsOnlyInputColumnsGeneratesNothing()
    {
        var (_, view, counting) = View(50, 8);
        Assert.Equal(50, Read(view, PreferenceColumnNames.Prompt, int.MaxValue).Count);
        Assert.Equal(0, counting.Calls);
    }

    [Fact]
    public void ASecondCursorReadsWhatTheFirstGenerated()
    {
        var (_, view, counting) = View(30, 8);
        var first = Read(view, PreferenceColumnNames.Response, 10);   // rows 0..15 generated
        Assert.Equal(16, counting.Rows.Count);

        var all = Read(view, PreferenceColumnNames.Response, int.MaxValue);   // 16..29 are new

        Assert.Equal(first, all.Take(10));
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"response to q{i}"), all);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => (long)i), counting.Rows); // each row once, in order
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"answer {i}"), Read(view, PreferenceColumnNames.Answer, int.MaxValue));
        Assert.Equal(30, counting.Rows.Count);
    }

    [Fact]
    public void TheCacheIsBoundedAndABatchSkipsRowsItStillHolds()
    {
        var (_, view, counting) = View(40, 8, cachedRows: 20);
        Assert.Equal(20, Read(view, PreferenceColumnNames.Response, 20).Count);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (long)i), counting.Rows); // three batches; rows 0..3 forgotten

        // A new cursor misses row 0: its batch takes the forgotten rows 0..3 and, skipping the held 4..23, rows 24..27.
        Assert.Equal(["response to q0"], Read(view, PreferenceColumnNames.Response, 1));
        Assert.Equal(new long[] { 0, 1, 2, 3, 24, 25, 26, 27 }, counting.Rows.Skip(24));

        // A scan longer than the cache reads what it generated in order, as without a cache.
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"response to q{i}"), Read(view, PreferenceColumnNames.Response, int.MaxValue));
    }

    [Fact]
    public void EachBatchIsLoggedAndCancellingStopsBeforeTheNextBatch()
    {
        using var cancel = new CancellationTokenSource();
        var (ml, view, counting) = View(20, 5, cancellation: cancel.Token);
        var log = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Message.Contains("Generated rows", StringComparison.Ordinal))
                log.Add(e.Message);
        };
        Assert.Equal(7, Read(view, PreferenceColumnNames.Response, 7).Count);
        Assert.Equal(2, log.Count);
        Assert.Contains("Generated rows 5..9: 10 rows so far", log[1]); // LoadFromEnumerable does not know its row count

        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Read(view, PreferenceColumnNames.Response, 20));
        Assert.Equal(10, counting.Rows.Count);
        Assert.Equal(7, Read(view, PreferenceColumnNames.Response, 7).Count); // what was generated is still there
    }
}
