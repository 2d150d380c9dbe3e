using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Vision;

/// <summary>
/// InternViT self-attention: one fused <c>qkv</c> projection laid out [3][heads][head_dim], optional RMS
/// normalisation of queries and keys over all heads (<c>q_norm</c>, <c>k_norm</c>; InternViT-6B), <c>proj</c>.
/// </summary>
internal sealed class InternAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly RmsNorm? q_norm;
    private readonly RmsNorm? k_norm;
    private readonly int _heads;

    /// <summary>Creates the attention of one InternViT layer.</summary>
    public InternAttention(InternVisionConfig config) : base(nameof(InternAttention))
    {
        _heads = config.NumAttentionHeads;
        qkv = nn.Linear(config.HiddenSize, 3L * config.HiddenSize, hasBias: config.QkvBias, device: ConstructionDevice.Current);
        proj = nn.Linear(config.HiddenSize, config.HiddenSize, device: ConstructionDevice.Current);
        register_module(nameof(qkv), qkv);
        if (config.QkNormalization)
        {
            q_norm = new RmsNorm(config.HiddenSize, config.LayerNormEps);
            k_norm = new RmsNorm(config.HiddenSize, config.LayerNormEps);
            register_module(nameof(q_norm), q_norm);
            register_module(nameof(k_norm), k_norm);
        }
        register_module(nameof(proj), proj);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], n = x.shape[1], c = x.shape[2];
        long headDim = c / _heads;
        var parts = qkv.call(x).reshape(b, n, 3, _heads, headDim).permute(2, 0, 3, 1, 4);
        Tensor q = parts[0], k = parts[1], v = parts[2];
        if (q_norm is not null && k_norm is not null)
        {
            q = q_norm.forward(q.transpose(1, 2).flatten(-2, -1)).view(b, n, _heads, headDim).transpose(1, 2);
            k = k_norm.forward(k.transpose(1, 2).flatten(-2, -1)).view(b, n, _heads, headDim).transpose(1, 2);
        }
        var attended = nn.functional.scaled_dot_product_attention(q, k, v);
        return proj.call(attended.transpose(1, 2).reshape(b, n, c)).MoveToOuterDisposeScope();
    }
}
