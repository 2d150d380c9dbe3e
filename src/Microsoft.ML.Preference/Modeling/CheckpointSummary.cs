using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>A model folder described from its headers alone: nothing is loaded, so it works for 8B checkpoints too.</summary>
/// <param name="Config">The parsed config.json.</param>
/// <param name="ImageContextTokenId">The <c>&lt;IMG_CONTEXT&gt;</c> id the model would use.</param>
/// <param name="Shards">Every safetensors file, each with its validated header.</param>
/// <param name="ParametersByComponent">Element counts per top-level component (vision_model, mlp1, language_model ...).</param>
/// <param name="ParametersByDType">Element counts per stored dtype.</param>
/// <param name="TotalBytes">Bytes of tensor data.</param>
internal sealed record CheckpointSummary(
    InternVLConfig Config, long ImageContextTokenId, IReadOnlyList<string> Shards,
    IReadOnlyDictionary<string, long> ParametersByComponent, IReadOnlyDictionary<string, long> ParametersByDType, long TotalBytes)
{
    /// <summary>Every element of every tensor.</summary>
    public long TotalParameters => ParametersByComponent.Values.Sum();

    /// <summary>Parses config.json and validates every shard's header and bounds (see <see cref="SafetensorsFile.Open"/>).</summary>
    public static CheckpointSummary Read(string folder)
    {
        var config = InternVLConfig.Load(folder);
        long imageId = InternVLModelFolder.ImageContextId(folder, config);
        using var checkpoint = CheckpointFolder.Open(folder);
        var byComponent = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var byDType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var name in checkpoint.Names)
        {
            var info = checkpoint.GetInfo(name);
            int dot = name.IndexOf('.');
            var component = dot < 0 ? name : name[..dot];
            byComponent[component] = byComponent.GetValueOrDefault(component) + info.ElementCount;
            byDType[info.DType] = byDType.GetValueOrDefault(info.DType) + info.ElementCount;
        }
        return new CheckpointSummary(config, imageId, checkpoint.Shards.Select(s => s.Path).ToList(), byComponent, byDType, checkpoint.TotalSize);
    }
}
