using Microsoft.ML.Preference.Trainers.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers.Training;

/// <summary>
/// bf16 mixed precision at the optimiser: float32 master weights take the updates bf16 weights cannot hold.
/// The reference is TorchSharp's own AdamW (an independent implementation of torch.optim.AdamW).
/// </summary>
public class MasterWeightAdamWTests(ITestOutputHelper output)
{
    private const double Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8;

    /// <summary>Start weights like a real checkpoint's (N(0, 0.02)), already bf16-exact so that every run starts from the same values.</summary>
    private static Tensor StartWeights(int seed) =>
        (torch.randn([64, 48], generator: new Generator((ulong)seed)) * 0.02f).to(ScalarType.BFloat16).to(ScalarType.Float32);

    private static Tensor[] Gradients(int steps, int microBatches, int seed)
    {
        var g = new Generator((ulong)seed);
        return Enumerable.Range(0, steps * microBatches).Select(_ => torch.randn([64, 48], generator: g)).ToArray();
    }

    /// <summary>Runs <paramref name="steps"/> AdamW steps: each sums the micro-batches' gradients (as the training loop's backward does) then clips.</summary>
    private static (Tensor Weights, double[] Norms) Run(ITrainingOptimizer optimizer, Parameter p, Tensor[] grads, int steps, int microBatches,
        double learningRate, double maxNorm)
    {
        var norms = new double[steps];
        for (int s = 0; s < steps; s++)
        {
            optimizer.ZeroGrad();
            for (int m = 0; m < microBatches; m++)
            {
                using var scope = torch.NewDisposeScope();
                // d/dp of sum(p * G) is G, in p's dtype: the gradient the model's backward would leave.
                (p * grads[s * microBatches + m].to(p.dtype)).sum().backward();
                optimizer.AfterBackward();
            }
            norms[s] = optimizer.ClipGradNorm(maxNorm);
            optimizer.Step(learningRate);
        }
        return (p.detach().to(ScalarType.Float32).clone(), norms);
    }

    [Theory]
    [InlineData(1, 1e9)]   // one micro-batch, no clipping
    [InlineData(3, 0.5)]   // float32 accumulation of three micro-batches, clipped every step
    public void OnFloat32ParametersItIsTorchAdamW(int microBatches, double maxNorm)
    {
        var grads = Gradients(6, microBatches, seed: 2);
        var start = StartWeights(1);
        var a = new Parameter(start.clone());
        var b = new Parameter(start.clone());
        using var torchAdamW = new TorchAdamW([a], 1e-3, Beta1, Beta2, Epsilon, weightDecay: 0.05);
        using var master = new MasterWeightAdamW([b], Beta1, Beta2, Epsilon, weightDecay: 0.05, accumulate: microBatches > 1);
        var (expected, expectedNorms) = Run(torchAdamW, a, grads, 6, microBatches, 1e-3, maxNorm);
        var (actual, actualNorms) = Run(master, b, grads, 6, microBatches, 1e-3, maxNorm);
        for (int s = 0; s < 6; s++)
            Assert.Equal(expectedNorms[s], actualNorms[s], expectedNorms[s] * 1e-5);
        // The weights moved by about 6e-3; they agree to float32 rounding.
        Assert.True((actual - start).abs().max().item<float>() > 1e-3);
        Assert.True(torch.allclose(actual, expected, rtol: 1e-5, atol: 1e-7), $"max difference {(actual - expected).abs().max().item<float>():E2}");
    }

    [Fact]
    public void AtLearningRate5e6Bf16WithMasterWeightsMovesLikeFloat32WherePureBf16StandsStill()
    {
        const int steps = 10;
        const double lr = 5e-6;
        var grads = Gradients(steps, 1, seed: 4);
        var start = StartWeights(3);
        var p32 = new Parameter(start.clone());
        var pMaster = new Parameter(start.to(ScalarType.BFloat16));
        var pPure = new Parameter(start.to(ScalarType.BFloat16));
        using var fp32 = new TorchAdamW([p32], lr, Beta1, Beta2, Epsilon, weightDecay: 0.05);
        using var master = new MasterWeightAdamW([pMaster], Beta1, Beta2, Epsilon, weightDecay: 0.05, accumulate: false);
        using var pure = new TorchAdamW([pPure], lr, Beta1, Beta2, Epsilon, weightDecay: 0.05);
        var (w32, _) = Run(fp32, p32, grads, steps, 1, lr, 1.0);
        Run(master, pMaster, grads, steps, 1, lr, 1.0);
        var (wPure, _) = Run(pure, pPure, grads, steps, 1, lr, 1.0);

        var d32 = w32 - start;
        var dMaster = master.Master(0) - start;
        var dPure = wPure - start;
        var figures = MixedPrecisionFigures.Of(d32, dMaster, dPure);
        output.WriteLine(figures.ToString());
        Assert.True(figures.SignAgreement > 0.99, figures.ToString());
        Assert.True(figures.RelativeDeltaDifference < 0.05, figures.ToString());
        // In place, bf16 rounds nearly every one of these updates away: the weights hardly move.
        Assert.True(figures.PureBf16Unchanged > 0.5, figures.ToString());
        // The bf16 weights the model computes with are the master weights rounded.
        Assert.True(pMaster.Equals(master.Master(0).to(ScalarType.BFloat16)));
    }
}

/// <summary>How a mixed-precision run's weight deltas compare with float32's, over the elements float32 moved.</summary>
internal sealed record MixedPrecisionFigures(long Updated, double SignAgreement, double RelativeDeltaDifference, double PureBf16Unchanged)
{
    public static MixedPrecisionFigures Of(Tensor d32, Tensor dMixed, Tensor dPure)
    {
        using var scope = torch.NewDisposeScope();
        var updated = d32 != 0;
        long count = updated.sum().item<long>();
        double agree = ((d32.sign() == dMixed.sign()) & updated).sum().item<long>() / (double)count;
        double relative = ((dMixed - d32) * updated).norm().item<float>() / (d32 * updated).norm().item<float>();
        double unchanged = ((dPure == 0) & updated).sum().item<long>() / (double)count;
        return new MixedPrecisionFigures(count, agree, relative, unchanged);
    }

    public override string ToString() =>
        $"{Updated} updated elements: sign agreement {SignAgreement:P2}, relative delta difference {RelativeDeltaDifference:F4}, unchanged under pure bf16 {PureBf16Unchanged:P2}";
}
