using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>
/// Grouped-query attention with the family's projections: separate q/k/v, one [q; k; v] Linear (Phi-3) or one
/// Linear grouped per KV head (InternLM2, see <see cref="QkvPacking.GroupedPerKvHead"/>); optionally a per-head
/// RMSNorm on queries and keys before RoPE (Qwen3).
/// </summary>
internal sealed class DecoderAttention : nn.Module
{
    private readonly QkvPacking _packing;
    private readonly RenamedChild<Linear>? _q, _k, _v, _packed;
    private readonly RenamedChild<Linear> _output;
    private readonly RenamedChild<RmsNorm>? _qNorm, _kNorm;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;

    /// <summary>Creates the attention.</summary>
    public DecoderAttention(LanguageModelConfig config) : base(nameof(DecoderAttention))
    {
        var family = config.Family;
        _packing = family.Packing;
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        long qWidth = (long)_heads * _headDim, kvWidth = (long)_kvHeads * _headDim;
        if (_packing == QkvPacking.Separate)
        {
            _q = Child("q_proj", nn.Linear(config.HiddenSize, qWidth, hasBias: config.AttentionBias, device: ConstructionDevice.Current));
            _k = Child("k_proj", nn.Linear(config.HiddenSize, kvWidth, hasBias: config.AttentionBias, device: ConstructionDevice.Current));
            _v = Child("v_proj", nn.Linear(config.HiddenSize, kvWidth, hasBias: config.AttentionBias, device: ConstructionDevice.Current));
        }
        else
        {
            _packed = Child(family.PackedQkv, nn.Linear(config.HiddenSize, qWidth + 2 * kvWidth, hasBias: config.AttentionBias, device: ConstructionDevice.Current));
        }
        _output = Child(family.OutputProjection, nn.Linear(qWidth, config.HiddenSize, hasBias: config.OutputBias, device: ConstructionDevice.Current));
        if (family.QkNorm)
        {
            _qNorm = Child("q_norm", new RmsNorm(_headDim, config.RmsNormEps));
            _kNorm = Child("k_norm", new RmsNorm(_headDim, config.RmsNormEps));
        }
    }

    private RenamedChild<T> Child<T>(string name, T module) where T : nn.Module
    {
        register_module(name, module);
        return new(module);
    }

    /// <summary>Queries [B, H, T, d], keys and values [B, KV, T, d], before RoPE (after q/k norms, if any).</summary>
    public (Tensor Query, Tensor Key, Tensor Value) Split(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        Tensor q, k, v;
        switch (_packing)
        {
            case QkvPacking.Separate:
                q = _q!.Value.call(x).view(b, t, _heads, _headDim);
                k = _k!.Value.call(x).view(b, t, _kvHeads, _headDim);
                v = _v!.Value.call(x).view(b, t, _kvHeads, _headDim);
                break;
            case QkvPacking.Concatenated:
            {
                var packed = _packed!.Value.call(x);
                long qWidth = (long)_heads * _headDim, kvWidth = (long)_kvHeads * _headDim;
                q = packed.narrow(-1, 0, qWidth).view(b, t, _heads, _headDim);
                k = packed.narrow(-1, qWidth, kvWidth).view(b, t, _kvHeads, _headDim);
                v = packed.narrow(-1, qWidth + kvWidth, kvWidth).view(b, t, _kvHeads, _headDim);
                break;
            }
            default:
            {
                int groups = _heads / _kvHeads;
                var packed = _packed!.Value.call(x).view(b, t, _kvHeads, groups + 2, _headDim);
                q = packed[.., .., .., ..groups, ..].reshape(b, t, _heads, _headDim);
                k = packed[.., .., .., groups, ..];
                v = packed[.., .., .., groups + 1, ..];
                break;
            }
        }
        if (_qNorm is not null)
        {
            q = _qNorm.Value.forward(q);
            k = _kNorm!.Value.forward(k);
        }
        return (q.transpose(1, 2).MoveToOuterDisposeScope(), k.transpose(1, 2).MoveToOuterDisposeScope(),
            v.transpose(1, 2).MoveToOuterDisposeScope());
    }

    /// <summary>Attention over [B, T, D] with RoPE tables and an additive mask; keys and values go through the cache when given.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, LayerKvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        var (q, k, v) = Split(x);
        q = RotaryEmbedding.Apply(q, cos, sin);
        k = RotaryEmbedding.Apply(k, cos, sin);
        if (cache is not null)
            (k, v) = cache.Append(k, v);
        return _output.Value.call(GroupedQueryAttention.Attend(q, k, v, mask)).MoveToOuterDisposeScope();
    }
}
