using Microsoft.ML.Data;

namespace Microsoft.ML.Preference.Transformers;

/// <summary>
/// An IDataView that passes every input column through and appends text columns whose values were computed
/// for each row beforehand (the responses of a batched generation). A later column with an existing name
/// hides the earlier one, as in every ML.NET transform.
/// </summary>
internal sealed class AppendedColumnsDataView : IDataView
{
    private readonly IDataView _input;
    private readonly IReadOnlyList<(string Name, string[] Values)> _columns;

    public AppendedColumnsDataView(IDataView input, IReadOnlyList<(string Name, string[] Values)> columns)
    {
        _input = input;
        _columns = columns;
        Schema = OutputSchema(input.Schema, columns.Select(c => c.Name));
    }

    public static DataViewSchema OutputSchema(DataViewSchema input, IEnumerable<string> names)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        foreach (var name in names)
            builder.AddColumn(name, TextDataViewType.Instance);
        return builder.ToSchema();
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _columns.Count == 0 ? _input.GetRowCount() : _columns[0].Values.Length;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        var inputColumns = needed.Where(c => c.Index < _input.Schema.Count).Select(c => _input.Schema[c.Index]);
        return new Cursor(this, _input.GetRowCursor(inputColumns), needed.Select(c => c.Index).ToHashSet());
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly AppendedColumnsDataView _parent;
        private readonly DataViewRowCursor _inner;
        private readonly HashSet<int> _active;

        public Cursor(AppendedColumnsDataView parent, DataViewRowCursor inner, HashSet<int> active)
        {
            _parent = parent;
            _inner = inner;
            _active = active;
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
            var values = _parent._columns[column.Index - inputCount].Values;
            if (typeof(TValue) != typeof(ReadOnlyMemory<char>))
                throw new InvalidOperationException($"Column '{column.Name}' is text; it cannot be read as {typeof(TValue).Name}.");
            ValueGetter<ReadOnlyMemory<char>> getter = (ref ReadOnlyMemory<char> value) => value = values[Position].AsMemory();
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        public override bool MoveNext() => _inner.MoveNext();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
