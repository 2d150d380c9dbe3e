using System.Diagnostics;
using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Preference.Transformers;

/// <summary>
/// What <see cref="MpoTransformer.Transform"/> returns: every input column passed through, plus Response and Answer,
/// generated only when a cursor reads them, a batch at a time, as ML.NET transforms compute their columns. Previewing
/// ten rows generates the batches that hold those ten rows, not the whole set; the responses are kept in a bounded
/// <see cref="ResponseCache"/> shared by every cursor of the view, so a second pass over rows still held generates
/// nothing. Rows are identified by their position in the input, which an ML.NET IDataView keeps from cursor to cursor
/// (the view is not shufflable, and the input is read in order).
/// </summary>
internal sealed class LazyResponsesDataView : IDataView
{
    private readonly IDataView _input;
    private readonly PreferenceColumns _columns;
    private readonly Func<IReadOnlyList<PreferenceExample>, IReadOnlyList<(string Response, string Answer)>> _generate;
    private readonly int _batchSize;
    private readonly ResponseCache _cache;
    private readonly IHost _host;
    private readonly CancellationToken _cancellation;
    private readonly Lock _generating = new();
    private readonly Stopwatch _clock = new();
    private long _generated;

    /// <param name="input">The rows to answer.</param>
    /// <param name="columns">Where the question (Prompt) and the images are; Chosen and Rejected are not read.</param>
    /// <param name="generate">Answers one batch of rows: one (response, answer) per row, in order.</param>
    /// <param name="batchSize">Rows per call of <paramref name="generate"/>.</param>
    /// <param name="cachedRows">How many generated rows the view keeps (at least one batch).</param>
    /// <param name="host">Logs each batch (rows done, time) to MLContext.Log.</param>
    /// <param name="cancellation">Checked before each batch (<paramref name="generate"/> checks it within one); what was
    /// generated before stays in the cache.</param>
    public LazyResponsesDataView(IDataView input, PreferenceColumns columns,
        Func<IReadOnlyList<PreferenceExample>, IReadOnlyList<(string Response, string Answer)>> generate,
        int batchSize, int cachedRows, IHost host, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _input = input;
        _columns = columns;
        _generate = generate;
        _batchSize = batchSize;
        _cache = new ResponseCache(Math.Max(cachedRows, batchSize));
        _host = host;
        _cancellation = cancellation;
        Schema = OutputSchema(input.Schema);
    }

    /// <summary>The input schema with Response and Answer (text) appended; a later column hides an earlier one of the same name.</summary>
    public static DataViewSchema OutputSchema(DataViewSchema input)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        builder.AddColumn(PreferenceColumnNames.Response, TextDataViewType.Instance);
        builder.AddColumn(PreferenceColumnNames.Answer, TextDataViewType.Instance);
        return builder.ToSchema();
    }

    /// <summary>How many rows this view has generated so far, over all its cursors.</summary>
    public long RowsGenerated => Interlocked.Read(ref _generated);

    public bool CanShuffle => false;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        var inputColumns = needed.Where(c => c.Index < _input.Schema.Count).Select(c => _input.Schema[c.Index]);
        return new Cursor(this, _input.GetRowCursor(inputColumns), needed.Select(c => c.Index).ToHashSet());
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    /// <summary>The response and answer of input row <paramref name="row"/>, generating its batch if no cursor has yet.</summary>
    private (string Response, string Answer) Row(long row, QuestionReader reader)
    {
        if (_cache.TryGet(row, out var hit))
            return hit;
        lock (_generating)
        {
            // Another cursor may have generated it while this one waited.
            if (_cache.TryGet(row, out hit))
                return hit;
            _cancellation.ThrowIfCancellationRequested();
            var batch = reader.Take(row, _batchSize, _cache.Contains);
            if (batch.Count == 0 || batch[0].RowIndex != row)
                throw new InvalidOperationException($"Row {row} of the input could not be read again: the input IDataView returned fewer rows on a second cursor.");
            _clock.Start();
            var answers = _generate(batch);
            _clock.Stop();
            if (answers.Count != batch.Count)
                throw new InvalidOperationException($"{answers.Count} responses were generated for {batch.Count} rows.");
            for (int i = 0; i < batch.Count; i++)
                _cache.Add(batch[i].RowIndex, answers[i]);
            long done = Interlocked.Add(ref _generated, batch.Count);
            using (var channel = _host.Start("Generation"))
            {
                var total = _input.GetRowCount() is { } n ? $" of {n}" : "";
                channel.Info(MessageSensitivity.None,
                    $"Generated rows {batch[0].RowIndex}..{batch[^1].RowIndex}: {done}{total} rows so far in {_clock.Elapsed.TotalSeconds:F1} s.");
            }
            return answers[0];
        }
    }

    /// <summary>
    /// One cursor's own reader of the questions, a step ahead of or level with the cursor: it reads the rows of a batch
    /// that the cursor has not reached yet. It restarts from the first row only if asked for a row it has passed (the
    /// cache forgot rows that this cursor had read ahead).
    /// </summary>
    private sealed class QuestionReader(LazyResponsesDataView parent) : IDisposable
    {
        private IEnumerator<PreferenceExample>? _rows;
        private long _next;

        public List<PreferenceExample> Take(long first, int count, Func<long, bool> skip)
        {
            if (_rows is null || _next > first)
                Restart();
            var batch = new List<PreferenceExample>(count);
            while (batch.Count < count && Next() is { } example)
            {
                if (example.RowIndex < first || (example.RowIndex > first && skip(example.RowIndex)))
                    continue;
                batch.Add(example);
            }
            return batch;
        }

        private PreferenceExample? Next()
        {
            if (!_rows!.MoveNext())
                return null;
            _next = _rows.Current.RowIndex + 1;
            return _rows.Current;
        }

        private void Restart()
        {
            _rows?.Dispose();
            _rows = PreferenceDataReader.Read(parent._input, parent._columns).GetEnumerator();
            _next = 0;
        }

        public void Dispose() => _rows?.Dispose();
    }

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly LazyResponsesDataView _parent;
        private readonly DataViewRowCursor _inner;
        private readonly HashSet<int> _active;
        private readonly QuestionReader _reader;
        private long _loadedRow = -1;
        private (string Response, string Answer) _loaded;

        public Cursor(LazyResponsesDataView parent, DataViewRowCursor inner, HashSet<int> active)
        {
            _parent = parent;
            _inner = inner;
            _active = active;
            _reader = new QuestionReader(parent);
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _inner.Position;

        public override long Batch => _inner.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => _inner.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int inputCount = _parent._input.Schema.Count;
            if (column.Index < inputCount)
                return _inner.GetGetter<TValue>(_parent._input.Schema[column.Index]);
            if (typeof(TValue) != typeof(ReadOnlyMemory<char>))
                throw new InvalidOperationException($"Column '{column.Name}' is text; it cannot be read as {typeof(TValue).Name}.");
            bool response = column.Index == inputCount;
            ValueGetter<ReadOnlyMemory<char>> getter = (ref ReadOnlyMemory<char> value) =>
            {
                var row = Current();
                value = (response ? row.Response : row.Answer).AsMemory();
            };
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        private (string Response, string Answer) Current()
        {
            if (Position < 0)
                throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");
            if (_loadedRow != Position)
            {
                _loaded = _parent.Row(Position, _reader);
                _loadedRow = Position;
            }
            return _loaded;
        }

        public override bool MoveNext() => _inner.MoveNext();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
                _reader.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
