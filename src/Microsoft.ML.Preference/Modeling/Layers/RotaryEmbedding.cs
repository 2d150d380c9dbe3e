using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// Rotary position embedding, rotate-half convention (pairs i and i + d/2), with the Hugging Face scalings
/// InternVL's language models use: none, "linear" (positions divided by the factor), "dynamic" (NTK: the
/// base grows with the sequence length once it passes max_position_embeddings), "llama3" (long wavelengths
/// divided by the factor, a smooth band between) and "longrope" (Phi-3: per-frequency short or long divisors by
/// key length, cos/sin times the attention factor); transformers modeling_rope_utils.py.
/// </summary>
/// <remarks>
/// Stateless on purpose: the Hugging Face classes cache cos/sin tables and keep a base computed for the
/// longest sequence seen, so one sample's logits depend on what ran before it. Here the base depends only on
/// the current forward's key length — the behaviour of a freshly loaded Hugging Face model.
/// </remarks>
internal sealed class RotaryEmbedding
{
    private readonly int _headDim;
    private readonly double _theta;
    private readonly RopeScaling? _scaling;
    private readonly int _maxPositions;

    /// <summary>Creates the embedding for heads of <paramref name="headDim"/> features.</summary>
    public RotaryEmbedding(int headDim, double theta, int maxPositionEmbeddings, RopeScaling? scaling)
    {
        if (headDim % 2 != 0)
            throw new ArgumentException($"RoPE needs an even head dimension, not {headDim}.", nameof(headDim));
        _headDim = headDim;
        _theta = theta;
        _maxPositions = maxPositionEmbeddings;
        _scaling = scaling;
    }

    /// <summary>The RoPE base used for a forward whose keys span <paramref name="keyLength"/> positions.</summary>
    public double Base(long keyLength)
    {
        if (_scaling is { Type: "dynamic" } s && keyLength > _maxPositions)
            return _theta * Math.Pow(s.Factor * keyLength / _maxPositions - (s.Factor - 1), (double)_headDim / (_headDim - 2));
        return _theta;
    }

    /// <summary>cos and sin tables [B, T, headDim] (float32) for <paramref name="positionIds"/> [B, T].</summary>
    public (Tensor Cos, Tensor Sin) Tables(Tensor positionIds, long keyLength)
    {
        using var scope = torch.NewDisposeScope();
        var device = positionIds.device;
        // As Hugging Face: exponents in float32, base ** exponent, then 1 / that.
        // Scalars held for the calls that read them (see HeldScalars).
        using var headDim = _headDim.ToScalar();
        var exponents = HeldScalars.Arange(0, _headDim, 2, device).to(ScalarType.Float32).div(headDim);
        // The base as a 0-d float64 tensor on the positions' device (what TorchSharp's implicit double -> Tensor makes, but
        // that one lands on the default device); 1 / x as reciprocal (TorchSharp's 1f / x is x.reciprocal() * 1).
        var basePowers = torch.pow(torch.tensor(Base(keyLength), device: device), exponents);
        var invFreq = basePowers.reciprocal();
        if (_scaling is { Type: "llama3" } llama3)
            invFreq = Llama3(invFreq, llama3);
        if (_scaling is { Type: "longrope" } longRope)
        {
            // 1 / (ext · base^e), ext = long factors once the keys pass the original context (_compute_longrope_parameters).
            var ext = keyLength > longRope.OriginalMaxPositionEmbeddings ? longRope.LongFactor! : longRope.ShortFactor!;
            var extTensor = torch.tensor(ext.Select(x => (float)x).ToArray(), device: device);
            invFreq = (extTensor * basePowers).reciprocal();
        }
        var positions = positionIds.to(ScalarType.Float32);
        if (_scaling is { Type: "linear" } linear)
        {
            using var factor = linear.Factor.ToScalar();
            positions = positions.div(factor);
        }
        var freqs = positions.unsqueeze(-1) * invFreq; // [B, T, d/2]
        var emb = torch.cat([freqs, freqs], -1);
        if (_scaling is { Type: "longrope", AttentionFactor: var attention } && attention != 1)
        {
            using var a = attention.ToScalar();
            return ((emb.cos() * a).MoveToOuterDisposeScope(), (emb.sin() * a).MoveToOuterDisposeScope());
        }
        return (emb.cos().MoveToOuterDisposeScope(), emb.sin().MoveToOuterDisposeScope());
    }

    // _compute_llama3_parameters, in float32 as there: wavelengths above original/low are divided by the factor,
    // those below original/high kept, those between interpolated.
    private static Tensor Llama3(Tensor invFreq, RopeScaling s)
    {
        using var scope = torch.NewDisposeScope();
        double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        using var twoPi = (2 * Math.PI).ToScalar();
        using var factor = s.Factor.ToScalar();
        using var low = lowWavelen.ToScalar();
        using var high = highWavelen.ToScalar();
        using var original = ((double)s.OriginalMaxPositionEmbeddings).ToScalar();
        using var lowFactor = s.LowFreqFactor.ToScalar();
        using var band = (s.HighFreqFactor - s.LowFreqFactor).ToScalar();
        var wavelen = invFreq.reciprocal() * twoPi;
        var scaled = torch.where(wavelen.gt(low), invFreq.div(factor), invFreq);
        var smooth = (wavelen.reciprocal() * original - lowFactor).div(band);
        var smoothed = (1 - smooth) * scaled.div(factor) + smooth * scaled;
        var medium = wavelen.ge(high).logical_and(wavelen.le(low));
        return torch.where(medium, smoothed, scaled).MoveToOuterDisposeScope();
    }

    /// <summary>Rotates <paramref name="x"/> [B, heads, T, d] by the tables from <see cref="Tables"/>.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        var c = cos.unsqueeze(1).to(x.dtype);
        var s = sin.unsqueeze(1).to(x.dtype);
        long half = x.shape[^1] / 2;
        var rotated = torch.cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return (x * c).Plus(rotated * s).MoveToOuterDisposeScope();
    }
}
