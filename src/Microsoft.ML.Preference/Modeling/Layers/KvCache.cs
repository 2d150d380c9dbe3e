using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// Keys and values of every decoder layer for the positions already processed, preallocated for the whole
/// generation so that a decode step writes one slice per layer instead of re-concatenating the past.
/// Owns its buffers: dispose it when generation ends.
/// </summary>
internal sealed class KvCache : IDisposable
{
    private readonly LayerKvCache[] _layers;

    /// <summary>Allocates room for <paramref name="capacity"/> positions of <paramref name="batch"/> rows.</summary>
    public KvCache(int layers, long batch, long kvHeads, long capacity, long headDim, ScalarType dtype, Device device)
    {
        Capacity = capacity;
        _layers = new LayerKvCache[layers];
        for (int i = 0; i < layers; i++)
            _layers[i] = new LayerKvCache(this,
                torch.zeros(batch, kvHeads, capacity, headDim, dtype: dtype, device: device),
                torch.zeros(batch, kvHeads, capacity, headDim, dtype: dtype, device: device));
    }

    /// <summary>Positions held (the same for every layer once a forward has finished).</summary>
    public long Length { get; private set; }

    /// <summary>The most positions it can hold.</summary>
    public long Capacity { get; }

    /// <summary>Layer <paramref name="index"/>'s slot.</summary>
    public LayerKvCache this[int index] => _layers[index];

    /// <summary>
    /// A new cache of <paramref name="rowIndex"/>.shape[0] rows and <paramref name="capacity"/> positions whose row i
    /// holds a copy of this cache's row rowIndex[i]: one prefilled prompt becomes the K rows of its samples.
    /// </summary>
    public KvCache ExpandRows(Tensor rowIndex, long capacity)
    {
        if (capacity < Length)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"The cache already holds {Length} positions.");
        var shape = _layers[0].Keys.shape;
        var expanded = new KvCache(_layers.Length, rowIndex.shape[0], shape[1], capacity, shape[3], _layers[0].Keys.dtype, _layers[0].Keys.device);
        for (int i = 0; i < _layers.Length; i++)
            expanded._layers[i].CopyRows(_layers[i], rowIndex, Length);
        expanded.Length = Length;
        return expanded;
    }

    /// <summary>Called by the model after all layers have appended a forward's positions.</summary>
    internal void Advance(long positions)
    {
        Length += positions;
    }

    /// <summary>Frees the buffers.</summary>
    public void Dispose()
    {
        foreach (var layer in _layers)
            layer.Dispose();
    }
}

/// <summary>One layer's keys and values [B, KV, capacity, d].</summary>
internal sealed class LayerKvCache : IDisposable
{
    private readonly KvCache _owner;
    private readonly Tensor _keys;
    private readonly Tensor _values;

    internal LayerKvCache(KvCache owner, Tensor keys, Tensor values)
    {
        _owner = owner;
        _keys = keys;
        _values = values;
    }

    internal Tensor Keys => _keys;

    /// <summary>Fills the first <paramref name="length"/> positions with rows <paramref name="rowIndex"/> of <paramref name="source"/>.</summary>
    internal void CopyRows(LayerKvCache source, Tensor rowIndex, long length)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        _keys.narrow(2, 0, length).copy_(source._keys.narrow(2, 0, length).index_select(0, rowIndex));
        _values.narrow(2, 0, length).copy_(source._values.narrow(2, 0, length).index_select(0, rowIndex));
    }

    /// <summary>
    /// Writes this forward's keys and values [B, KV, t, d] after the cached ones and returns views of all of them
    /// [B, KV, past + t, d].
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(Tensor keys, Tensor values)
    {
        long past = _owner.Length, t = keys.shape[2];
        if (past + t > _owner.Capacity)
            throw new InvalidOperationException($"The KV cache holds {_owner.Capacity} positions; {past} + {t} do not fit.");
        using (torch.no_grad())
        {
            _keys.narrow(2, past, t).copy_(keys);
            _values.narrow(2, past, t).copy_(values);
        }
        return (_keys.narrow(2, 0, past + t), _values.narrow(2, 0, past + t));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _keys.Dispose();
        _values.Dispose();
    }
}
