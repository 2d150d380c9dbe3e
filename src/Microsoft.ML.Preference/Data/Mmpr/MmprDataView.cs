using Microsoft.ML.Data;

namespace Microsoft.ML.Preference.Data.Mmpr;

/// <summary>
/// The rows of an MMPR meta.json as an IDataView: columns Image (vector of text: full image paths, empty for
/// text-only rows), Prompt, Chosen, Rejected, AnswerGt (text, empty when a line has none) and Source (the data set's
/// name). Every cursor streams the annotation files line by line, data set after data set in meta.json order: no file
/// is ever held in memory, so a data set of any size can be read. Rows are not shuffled (use
/// <c>mlContext.Data.ShuffleRows</c>). A malformed line, an image path leaving its root, or a question whose
/// "&lt;image&gt;" placeholders do not match its images stops the cursor with an <see cref="InvalidDataException"/>
/// naming file:line. A question with images but no placeholder is kept as it is: the prompt builder puts the images
/// before it, as InternVL does.
/// </summary>
public sealed class MmprDataView : IDataView
{

    private const int ImageIndex = 0, PromptIndex = 1, ChosenIndex = 2, RejectedIndex = 3, AnswerGtIndex = 4, SourceIndex = 5, MaxDynamicPatchIndex = 6;

    private readonly int _seed;

    internal MmprDataView(IReadOnlyList<MmprDataset> datasets, int seed, MmprSubsampling subsampling)
    {
        Datasets = datasets;
        _seed = seed;
        Subsampling = subsampling;
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(PreferenceColumnNames.Image, new VectorDataViewType(TextDataViewType.Instance));
        builder.AddColumn(PreferenceColumnNames.Prompt, TextDataViewType.Instance);
        builder.AddColumn(PreferenceColumnNames.Chosen, TextDataViewType.Instance);
        builder.AddColumn(PreferenceColumnNames.Rejected, TextDataViewType.Instance);
        builder.AddColumn(PreferenceColumnNames.AnswerGt, TextDataViewType.Instance);
        builder.AddColumn(PreferenceColumnNames.Source, TextDataViewType.Instance);
        builder.AddColumn(PreferenceColumnNames.MaxDynamicPatch, NumberDataViewType.Int32);
        Schema = builder.ToSchema();
    }

    /// <summary>The data sets read, in meta.json order.</summary>
    public IReadOnlyList<MmprDataset> Datasets { get; }

    /// <summary>How a fractional repeat_time picks its lines.</summary>
    public MmprSubsampling Subsampling { get; }

    /// <inheritdoc/>
    public bool CanShuffle => false;

    /// <inheritdoc/>
    public DataViewSchema Schema { get; }

    /// <summary>Unknown without reading the files: null.</summary>
    public long? GetRowCount() => null;

    /// <inheritdoc/>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, columnsNeeded.Select(c => c.Index).ToHashSet());

    /// <inheritdoc/>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    /// <summary>The (line number, line) pairs a data set contributes, streamed, with repeat_time applied.</summary>
    private IEnumerable<(long LineNumber, string Line)> Lines(MmprDataset dataset, int datasetIndex)
    {
        if (dataset.RepeatTime >= 1)
        {
            for (int pass = 0; pass < (int)dataset.RepeatTime; pass++)
                foreach (var item in NonBlankLines(dataset.Annotation))
                    yield return item;
            yield break;
        }
        if (dataset.RepeatTime <= 0)
            yield break;
        long total = 0;
        foreach (var _ in NonBlankLines(dataset.Annotation))
            total++;
        using var positions = Selection(total, dataset, datasetIndex).GetEnumerator();
        bool more = positions.MoveNext();
        long seen = 0;
        foreach (var item in NonBlankLines(dataset.Annotation))
        {
            if (!more)
                yield break;
            if (seen++ == positions.Current)
            {
                yield return item;
                more = positions.MoveNext();
            }
        }
    }

    /// <summary>
    /// Which of a data set's <paramref name="total"/> non-blank lines it contributes, in order, by position: every line
    /// floor(repeat_time) times (pass after pass) for repeat_time of 1 or more, a sample of floor(total·repeat_time)
    /// lines below 1 (increasing positions). The one rule that both the streamed cursor and the trainer's line index
    /// (<see cref="MmprRowSource"/>) follow, so they see the same rows.
    /// </summary>
    internal IEnumerable<long> Selection(long total, MmprDataset dataset, int datasetIndex)
    {
        if (dataset.RepeatTime >= 1)
        {
            for (int pass = 0; pass < (int)dataset.RepeatTime; pass++)
                for (long i = 0; i < total; i++)
                    yield return i;
            yield break;
        }
        if (dataset.RepeatTime <= 0)
            yield break;
        long wanted = (long)Math.Floor(total * dataset.RepeatTime);
        var random = new Random(unchecked(_seed * 1_000_003 + datasetIndex));
        long taken = 0;
        for (long seen = 0; seen < total && taken < wanted; seen++)
        {
            if (Subsampling == MmprSubsampling.Prefix || random.NextDouble() * (total - seen) < wanted - taken)
            {
                taken++;
                yield return seen;
            }
        }
    }

    private static IEnumerable<(long LineNumber, string Line)> NonBlankLines(string path)
    {
        foreach (var (lineNumber, line) in Utf8Lines.Read(path))
        {
            if (!string.IsNullOrWhiteSpace(line))
                yield return (lineNumber, line);
        }
    }

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly MmprDataView _parent;
        private readonly HashSet<int> _active;
        private readonly IEnumerator<(MmprDataset Dataset, long LineNumber, string Line)> _lines;
        private MmprRow _row;
        private ReadOnlyMemory<char> _source;
        private int _maxDynamicPatch;
        private long _position = -1;

        public Cursor(MmprDataView parent, HashSet<int> active)
        {
            _parent = parent;
            _active = active;
            _lines = All().GetEnumerator();
        }

        private IEnumerable<(MmprDataset, long, string)> All()
        {
            for (int i = 0; i < _parent.Datasets.Count; i++)
            {
                var dataset = _parent.Datasets[i];
                foreach (var (number, line) in _parent.Lines(dataset, i))
                    yield return (dataset, number, line);
            }
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override ValueGetter<DataViewRowId> GetIdGetter() =>
            (ref DataViewRowId value) => value = new DataViewRowId((ulong)_position, 0);

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override bool MoveNext()
        {
            if (!_lines.MoveNext())
                return false;
            var (dataset, number, line) = _lines.Current;
            _row = MmprLine.Parse(line, dataset.Annotation, number, dataset.Root);
            _source = dataset.Name.AsMemory();
            _maxDynamicPatch = dataset.MaxDynamicPatch ?? 0;
            _position++;
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column))
                throw new InvalidOperationException($"Column '{column.Name}' was not requested from this cursor.");
            if (column.Index == ImageIndex)
            {
                if (typeof(TValue) != typeof(VBuffer<ReadOnlyMemory<char>>))
                    throw new InvalidOperationException($"Column '{column.Name}' is a vector of text; it cannot be read as {typeof(TValue).Name}.");
                ValueGetter<VBuffer<ReadOnlyMemory<char>>> images = (ref VBuffer<ReadOnlyMemory<char>> value) =>
                {
                    var paths = _row.Images;
                    var editor = VBufferEditor.Create(ref value, paths.Length);
                    for (int i = 0; i < paths.Length; i++)
                        editor.Values[i] = paths[i].AsMemory();
                    value = editor.Commit();
                };
                return (ValueGetter<TValue>)(Delegate)images;
            }
            if (column.Index == MaxDynamicPatchIndex)
            {
                if (typeof(TValue) != typeof(int))
                    throw new InvalidOperationException($"Column '{column.Name}' is Int32; it cannot be read as {typeof(TValue).Name}.");
                ValueGetter<int> patch = (ref int value) => value = _maxDynamicPatch;
                return (ValueGetter<TValue>)(Delegate)patch;
            }
            if (typeof(TValue) != typeof(ReadOnlyMemory<char>))
                throw new InvalidOperationException($"Column '{column.Name}' is text; it cannot be read as {typeof(TValue).Name}.");
            ValueGetter<ReadOnlyMemory<char>> text = column.Index switch
            {
                PromptIndex => (ref ReadOnlyMemory<char> value) => value = _row.Prompt.AsMemory(),
                ChosenIndex => (ref ReadOnlyMemory<char> value) => value = _row.Chosen.AsMemory(),
                RejectedIndex => (ref ReadOnlyMemory<char> value) => value = _row.Rejected.AsMemory(),
                AnswerGtIndex => (ref ReadOnlyMemory<char> value) => value = _row.AnswerGt.AsMemory(),
                SourceIndex => (ref ReadOnlyMemory<char> value) => value = _source,
                _ => throw new ArgumentOutOfRangeException(nameof(column), $"No column {column.Index} in this data view."),
            };
            return (ValueGetter<TValue>)(Delegate)text;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _lines.Dispose();
            base.Dispose(disposing);
        }
    }
}
