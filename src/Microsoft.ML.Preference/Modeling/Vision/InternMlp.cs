using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Layers;
using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Modeling.Vision;

/// <summary>InternViT's MLP: <c>fc1</c>, exact-erf GELU, <c>fc2</c>.</summary>
internal sealed class InternMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;

    /// <summary>Creates the MLP of one InternViT layer.</summary>
    public InternMlp(InternVisionConfig config) : base(nameof(InternMlp))
    {
        fc1 = nn.Linear(config.HiddenSize, config.IntermediateSize, device: ConstructionDevice.Current);
        fc2 = nn.Linear(config.IntermediateSize, config.HiddenSize, device: ConstructionDevice.Current);
        register_module(nameof(fc1), fc1);
        register_module(nameof(fc2), fc2);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return fc2.call(nn.functional.gelu(fc1.call(x))).MoveToOuterDisposeScope();
    }
}
