using Microsoft.ML.Preference.Data;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Hands the training loop its micro-batches in order, loading them ahead on background workers: with W workers,
/// up to <c>capacity</c> micro-batches beyond the one being trained on are read, tokenised, decoded and tiled while
/// the model computes, so the training thread waits only when the workers fall behind. Memory is bounded by the
/// capacity (never by the data set). With 0 workers each micro-batch is loaded on the training thread when taken.
/// Which rows a micro-batch holds comes from <see cref="EpochOrder"/>, so the workers' timing never changes the data.
/// </summary>
internal sealed class PrefetchingBatchLoader : IDisposable
{
    private readonly PreferenceRowSource _source;
    private readonly PreferenceRowPreparer _preparer;
    private readonly EpochOrder _order;
    private readonly int _end;
    private readonly int _capacity;
    private readonly ManualResetEventSlim? _fullSignal;
    private readonly Thread[] _workers;
    private readonly object _gate = new();
    private readonly Dictionary<int, LoadedMicroBatch> _ready = [];
    private int _next;      // the next micro-batch a worker will start
    private int _taken;     // the next micro-batch the trainer will take
    private bool _stopped;

    /// <param name="source">The rows.</param>
    /// <param name="preparer">Checks, tokenises and tiles a row.</param>
    /// <param name="order">Which rows each micro-batch holds.</param>
    /// <param name="start">The first micro-batch to be taken (a resumed run's position: nothing before it is read).</param>
    /// <param name="end">One past the last micro-batch of the run.</param>
    /// <param name="workers">Background workers; 0 loads on the caller's thread.</param>
    /// <param name="capacity">Micro-batches loaded (or loading) ahead of the trainer, at most.</param>
    /// <param name="fullSignal">Mirrors whether the queue is full: set when <paramref name="capacity"/> loaded micro-batches are waiting, reset when one is taken (tests use it).</param>
    public PrefetchingBatchLoader(PreferenceRowSource source, PreferenceRowPreparer preparer, EpochOrder order, int start, int end,
        int workers, int capacity, ManualResetEventSlim? fullSignal = null)
    {
        _source = source;
        _preparer = preparer;
        _order = order;
        _next = _taken = start;
        _end = end;
        _capacity = Math.Max(1, capacity);
        _fullSignal = fullSignal;
        _workers = new Thread[workers];
        for (int w = 0; w < workers; w++)
        {
            _workers[w] = new Thread(Work) { IsBackground = true, Name = $"mpo-data-{w}" };
            _workers[w].Start();
        }
    }

    public int Workers => _workers.Length;

    /// <summary>Loaded micro-batches waiting for the trainer (for the metrics).</summary>
    public int Buffered
    {
        get
        {
            lock (_gate)
                return _ready.Count;
        }
    }

    /// <summary>Micro-batch <paramref name="index"/>: must be the next one (they are taken in order). The caller owns it.</summary>
    public LoadedMicroBatch Take(int index)
    {
        lock (_gate)
        {
            if (index != _taken)
                throw new InvalidOperationException($"Internal error: micro-batch {index} taken out of order (expected {_taken}).");
            _taken++;
            if (_workers.Length == 0)
            {
                _next = _taken;
            }
            else
            {
                LoadedMicroBatch? batch;
                while (!_ready.Remove(index, out batch))
                    Monitor.Wait(_gate);
                _fullSignal?.Reset();
                Monitor.PulseAll(_gate); // a slot is free
                return batch;
            }
        }
        return LoadedMicroBatch.Load(index, Positions(index), _source, _preparer);
    }

    private int[] Positions(int index)
    {
        lock (_order)
            return _order.MicroBatch(index);
    }

    private void Work()
    {
        while (true)
        {
            int index;
            lock (_gate)
            {
                while (!_stopped && _next < _end && _next >= _taken + _capacity)
                    Monitor.Wait(_gate);
                if (_stopped || _next >= _end)
                    return;
                index = _next++;
            }
            var batch = LoadedMicroBatch.Load(index, Positions(index), _source, _preparer);
            lock (_gate)
            {
                if (_stopped)
                {
                    batch.Dispose();
                    return;
                }
                _ready[index] = batch;
                if (_ready.Count >= _capacity)
                    _fullSignal?.Set();
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Stops the workers (each finishes the row it is on) and frees every micro-batch not taken.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var worker in _workers)
            worker.Join();
        foreach (var batch in _ready.Values)
            batch.Dispose();
        _ready.Clear();
    }
}
