using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Vision;

/// <summary>
/// One InternViT layer: x + drop_path(attn(norm1(x))·ls1), then x + drop_path(mlp(norm2(x))·ls2).
/// Parameters: <c>norm1</c>, <c>attn</c>, <c>ls1</c>, <c>norm2</c>, <c>mlp</c>, <c>ls2</c>.
/// </summary>
internal sealed class InternVisionEncoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> norm1;
    private readonly InternAttention attn;
    private readonly Parameter ls1;
    private readonly nn.Module<Tensor, Tensor> norm2;
    private readonly InternMlp mlp;
    private readonly Parameter ls2;

    /// <summary>Creates a layer whose stochastic-depth rate is <paramref name="dropPath"/>.</summary>
    public InternVisionEncoderLayer(InternVisionConfig config, double dropPath) : base(nameof(InternVisionEncoderLayer))
    {
        DropPathRate = dropPath;
        norm1 = Norm(config);
        attn = new InternAttention(config);
        ls1 = new Parameter(torch.ones(config.HiddenSize, device: ConstructionDevice.Current));
        norm2 = Norm(config);
        mlp = new InternMlp(config);
        ls2 = new Parameter(torch.ones(config.HiddenSize, device: ConstructionDevice.Current));
        register_module(nameof(attn), attn);
        register_module(nameof(mlp), mlp);
        register_module(nameof(norm1), norm1);
        register_module(nameof(norm2), norm2);
        register_parameter(nameof(ls1), ls1);
        register_parameter(nameof(ls2), ls2);
    }

    /// <summary>The probability that training drops this layer's branches for a tile (stochastic depth).</summary>
    internal double DropPathRate { get; set; }

    private static nn.Module<Tensor, Tensor> Norm(InternVisionConfig config) =>
        config.NormType == "rms_norm"
            ? new RmsNorm(config.HiddenSize, config.LayerNormEps)
            : nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: ConstructionDevice.Current);

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        x = x.Plus(DropPath(attn.forward(norm1.forward(x)) * ls1));
        x = x.Plus(DropPath(mlp.forward(norm2.forward(x)) * ls2));
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Stochastic depth (training only): drops a tile's whole branch, rescaling the kept ones.</summary>
    private Tensor DropPath(Tensor branch)
    {
        if (!training || DropPathRate <= 0)
            return branch;
        double keep = 1 - DropPathRate;
        var mask = torch.empty(branch.shape[0], 1, 1, dtype: branch.dtype, device: branch.device).bernoulli_(keep);
        return branch * mask / keep;
    }
}
