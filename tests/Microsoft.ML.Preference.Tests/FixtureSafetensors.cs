using Microsoft.ML.Preference.Modeling.Checkpoints;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests;

/// <summary>Indexer access to a safetensors file under TestData, read with the package's own reader.</summary>
internal sealed class FixtureSafetensors
{
    private readonly string _path;

    private FixtureSafetensors(string path) => _path = path;

    public static FixtureSafetensors Load(params string[] path) =>
        new(Path.Combine([AppContext.BaseDirectory, "TestData", .. path]));

    public Tensor this[string name]
    {
        get
        {
            using var file = SafetensorsFile.Open(_path);
            return file.Read(name);
        }
    }
}
