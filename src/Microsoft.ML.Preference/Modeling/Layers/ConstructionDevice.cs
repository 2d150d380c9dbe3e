using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// The device new model modules put their parameters on, as PyTorch's <c>with torch.device("meta"):</c> does
/// (TorchSharp 0.107 has no default-device setting). Null = libtorch's default (CPU). The meta device builds a
/// real-size model's module tree, names and shapes without memory; <see cref="Use"/> scopes it to one thread.
/// </summary>
internal static class ConstructionDevice
{
    [ThreadStatic]
    private static Device? _current;

    /// <summary>Where modules built on this thread now put their parameters (null: CPU).</summary>
    public static Device? Current => _current;

    /// <summary>The meta device: shapes and dtypes, no storage.</summary>
    public static Device Meta { get; } = torch.device("meta");

    /// <summary>Builds modules on <paramref name="device"/> until the returned scope is disposed.</summary>
    public static IDisposable Use(Device device)
    {
        var previous = _current;
        _current = device;
        return new Restore(previous);
    }

    /// <summary>
    /// TorchSharp's nn.Embedding(<paramref name="count"/>, <paramref name="dimension"/>) on <see cref="Current"/>. The module
    /// is native and fills a CPU table with N(0, 1) before moving it anywhere, which on the meta device would cost 2.1 s and
    /// 0.38 GB for InternVL2-2B's 92,553 × 2,048 table (2 GB for Llama-3's 128,256 × 8,192); there it is built with one
    /// row and given a meta table of the full shape, which its forward (libtorch's embedding) reads as it would any other.
    /// </summary>
    public static Embedding Embedding(long count, long dimension)
    {
        if (_current is not { type: DeviceType.META })
            return nn.Embedding(count, dimension, device: _current);
        var embedding = nn.Embedding(1, dimension, device: _current);
        embedding.weight = new Parameter(torch.empty(count, dimension, device: _current));
        return embedding;
    }

    private sealed class Restore(Device? previous) : IDisposable
    {
        public void Dispose() => _current = previous;
    }
}
