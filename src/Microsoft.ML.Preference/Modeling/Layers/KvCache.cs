using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// Keys and values of every decoder layer for the positions already processed, preallocated for the whole
/// generation so that a decode step writes one slice per layer instead of re-concatenating the past.
/// Owns its buffers: dispose it when generation ends.
/// </summary>
public sealed class KvCache : IDisposable
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
public sealed class LayerKvCache : IDisposable
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
