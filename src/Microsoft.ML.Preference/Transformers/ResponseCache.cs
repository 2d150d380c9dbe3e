namespace Microsoft.ML.Preference.Transformers;

/// <summary>
/// The responses a lazy <see cref="MpoTransformer"/> view has generated, by input row, so that a second cursor over
/// the same view (a Preview, then an evaluation) reads them instead of generating them again. Bounded: past
/// <see cref="Capacity"/> rows the oldest are forgotten first, so a view over millions of rows holds only a window.
/// </summary>
internal sealed class ResponseCache
{
    private readonly Dictionary<long, (string Response, string Answer)> _rows = [];
    private readonly Queue<long> _order = new();
    private readonly Lock _gate = new();

    public ResponseCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>The most rows held at once.</summary>
    public int Capacity { get; }

    public bool TryGet(long row, out (string Response, string Answer) value)
    {
        lock (_gate)
            return _rows.TryGetValue(row, out value);
    }

    public bool Contains(long row)
    {
        lock (_gate)
            return _rows.ContainsKey(row);
    }

    public void Add(long row, (string Response, string Answer) value)
    {
        lock (_gate)
        {
            if (!_rows.TryAdd(row, value))
                return;
            _order.Enqueue(row);
            while (_rows.Count > Capacity)
                _rows.Remove(_order.Dequeue());
        }
    }
}
