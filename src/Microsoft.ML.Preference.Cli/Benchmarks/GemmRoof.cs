using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>
/// The machine's fp32 matrix-multiply rate through TorchSharp (2048³, the roof our benchmarks are measured
/// against), measured in the same process and with the same thread count as the benchmark itself.
/// </summary>
internal static class GemmRoof
{
    public static double MeasureGflops(int size = 2048, int warmup = 2, int timed = 5)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var a = torch.randn(size, size);
        var b = torch.randn(size, size);
        var (median, _) = Timing.Measure(warmup, timed, () =>
        {
            using var inner = torch.NewDisposeScope();
            torch.matmul(a, b);
        });
        return 2.0 * size * size * size / median / 1e9;
    }
}
