using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// Scalars that stay alive for the whole native call, for the paths that run many times per token (residual adds,
/// RMSNorm, rotary embedding, attention masks, positions and sampling).
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns the alpha of <c>a + b</c> (1; <c>a - b</c> passes none) and the constant of <c>x + 1e-6</c>
/// into a Scalar that nothing references once its handle is read. A garbage collection started by another thread
/// during the native call can then finalize and free it before libtorch reads it, which ends the process ("Expected
/// false to be true ... toFloat at Scalar.h:140"; see <see cref="Runtime.ConsoleProgress"/> for how our own progress
/// bar stopped starting such collections). A Scalar held by a static field, by the module doing the call or by a
/// <c>using</c> cannot be finalized mid-call, and the numbers are the same. Some TorchSharp methods hide one: <c>square()</c> is <c>pow(2)</c>.
/// </remarks>
internal static class HeldScalars
{
    /// <summary>The alpha of an unscaled add. Static, so never finalized.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>2, the exponent of a square: TorchSharp's <c>square()</c> is <c>pow(2)</c> with a Scalar of its own.</summary>
    public static readonly Scalar Two = 2.ToScalar();

    /// <summary>0, for masks, clamps and the start of a range.</summary>
    public static readonly Scalar Zero = 0.ToScalar();

    /// <summary>−1, for positions counted from 0.</summary>
    public static readonly Scalar MinusOne = (-1).ToScalar();

    /// <summary>−∞ (float), for masked logits.</summary>
    public static readonly Scalar NegativeInfinity = float.NegativeInfinity.ToScalar();

    /// <summary><c>a + b</c>.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a + value</c>, with <paramref name="value"/> held by the caller.</summary>
    public static Tensor Plus(this Tensor a, Scalar value) => a.add(value, One);

    /// <summary><c>torch.arange(start, stop, step)</c> (int64 unless <paramref name="dtype"/> says otherwise).</summary>
    public static Tensor Arange(long start, long stop, long step, Device device, ScalarType dtype = ScalarType.Int64)
    {
        // `using` keeps each Scalar referenced until the call has returned.
        using var first = start.ToScalar();
        using var end = stop.ToScalar();
        using var stride = step.ToScalar();
        return torch.arange(first, end, stride, dtype, device);
    }
}
