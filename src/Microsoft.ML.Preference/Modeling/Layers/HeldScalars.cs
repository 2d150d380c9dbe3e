using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// Tensor additions whose Scalar operands stay alive for the whole native call, for the paths that run many times per
/// token (residual adds, RMSNorm, rotary embedding).
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns the alpha of <c>a + b</c> (1; <c>a - b</c> passes none) and the constant of <c>x + 1e-6</c> into a Scalar that nothing
/// references once its handle is read. A garbage collection started by another thread during the native call can then
/// finalize and free it before libtorch reads it, which ends the process ("Expected false to be true ... toFloat at
/// Scalar.h:140"; see <see cref="Runtime.ConsoleProgress"/> for how our own progress bar stopped starting such
/// collections). A Scalar held by a static field or by the module doing the call cannot be finalized mid-call, and
/// the numbers are the same.
/// </remarks>
internal static class HeldScalars
{
    /// <summary>The alpha of an unscaled add or subtract. Static, so never finalized.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary><c>a + b</c>.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a + value</c>, with <paramref name="value"/> held by the caller.</summary>
    public static Tensor Plus(this Tensor a, Scalar value) => a.add(value, One);
}
