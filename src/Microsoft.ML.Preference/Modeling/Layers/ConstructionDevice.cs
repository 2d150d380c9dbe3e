using TorchSharp;
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

    private sealed class Restore(Device? previous) : IDisposable
    {
        public void Dispose() => _current = previous;
    }
}
