using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>The attention core shared by the decoders: grouped-query attention over an additive mask.</summary>
internal static class GroupedQueryAttention
{
    /// <summary>
    /// softmax(q·kᵀ/√d + mask)·v with query head h reading KV head h / (heads / kvHeads), as Hugging Face's
    /// repeat_kv does; returns [B, T, heads·d]. A null <paramref name="mask"/> means plain causal attention over
    /// as many keys as queries, which lets libtorch use its fused (flash) CPU kernel that never materialises the
    /// T×T weights.
    /// </summary>
    public static Tensor Attend(Tensor query, Tensor key, Tensor value, Tensor? mask)
    {
        using var scope = torch.NewDisposeScope();
        long heads = query.shape[1], kvHeads = key.shape[1];
        if (heads != kvHeads)
        {
            long groups = heads / kvHeads;
            key = key.repeat_interleave(groups, dim: 1);
            value = value.repeat_interleave(groups, dim: 1);
        }
        var output = mask is null
            ? nn.functional.scaled_dot_product_attention(query, key, value, is_casual: true)
            : nn.functional.scaled_dot_product_attention(query, key, value, mask.to(query.dtype));
        long b = query.shape[0], t = query.shape[2];
        return output.transpose(1, 2).reshape(b, t, -1).MoveToOuterDisposeScope();
    }
}
