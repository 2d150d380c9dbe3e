using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>Additive attention masks in the form Hugging Face's eager attention uses.</summary>
internal static class AttentionMasks
{
    /// <summary>
    /// A [B, 1, Tq, Tk] additive mask: the dtype's most negative value above the causal diagonal and on keys
    /// whose <paramref name="attentionMask"/> is 0, else 0. Queries sit at the last <paramref name="queryLength"/>
    /// of the <paramref name="keyLength"/> positions (a KV cache holds the earlier ones). Padded queries are still
    /// computed, as in Hugging Face, so logits at pad positions are defined.
    /// </summary>
    public static Tensor CausalWithPadding(Tensor? attentionMask, long batch, long queryLength, long keyLength, ScalarType dtype, Device device)
    {
        using var scope = torch.NewDisposeScope();
        double min = dtype switch
        {
            ScalarType.Float16 => -65504.0,
            ScalarType.BFloat16 => -3.3895313892515355e38,
            ScalarType.Float64 => double.MinValue,
            _ => float.MinValue,
        };
        long offset = keyLength - queryLength;
        using var offsetScalar = offset.ToScalar();
        using var minScalar = min.ToScalar();
        var q = HeldScalars.Arange(0, queryLength, 1, device).unsqueeze(1).Plus(offsetScalar);
        var k = HeldScalars.Arange(0, keyLength, 1, device).unsqueeze(0);
        var blocked = k > q; // [Tq, Tk]
        var blockedFull = blocked.unsqueeze(0).unsqueeze(0).expand(batch, 1, queryLength, keyLength);
        if (attentionMask is not null)
        {
            var padKeys = attentionMask.to(device).eq(HeldScalars.Zero).view(batch, 1, 1, keyLength);
            blockedFull = blockedFull.logical_or(padKeys);
        }
        var mask = torch.zeros(batch, 1, queryLength, keyLength, dtype: dtype, device: device).masked_fill(blockedFull, minScalar);
        return mask.MoveToOuterDisposeScope();
    }

    /// <summary>True when every row of <paramref name="attentionMask"/> [B, T] is ones followed by zeros (right padding).</summary>
    public static bool IsRightPadded(Tensor attentionMask)
    {
        using var scope = torch.NewDisposeScope();
        long t = attentionMask.shape[1];
        if (t < 2)
            return true;
        var m = attentionMask.to(ScalarType.Int64);
        return (m.narrow(1, 1, t - 1) <= m.narrow(1, 0, t - 1)).all().item<bool>();
    }
}
