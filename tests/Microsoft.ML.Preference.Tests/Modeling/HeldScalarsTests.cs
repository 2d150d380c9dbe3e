using Microsoft.ML.Preference.Modeling.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

public class HeldScalarsTests
{
    [Fact]
    public void PlusGivesTheSameNumbersAsTheOperator()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.randn(3, 5, generator: new Generator(1));
        var b = torch.randn(3, 5, generator: new Generator(2));
        Assert.True(a.Plus(b).eq(a + b).all().item<bool>());
        using var eps = 0.25.ToScalar();
        Assert.True(a.Plus(eps).eq(a + 0.25).all().item<bool>());
    }

    [Fact]
    public void RmsNormMatchesItsFormula()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn(2, 4, 8, generator: new Generator(3));
        using var norm = new RmsNorm(8, 1e-6);
        var expected = x / (x.pow(2).mean([-1L], keepdim: true) + 1e-6).sqrt();
        Assert.True(norm.forward(x).allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    // TorchSharp 0.107 lets a collection finalize an implicitly created Scalar while libtorch is still to read it. With
    // `a + b` in this loop (collections forced on another thread, as Spectre's refresh thread could start them) a probe
    // ended the process within 4 seconds in 5 tries out of 5, with "Expected false to be true ... toFloat". The hot
    // paths that pass held Scalars must come through.
    [Fact]
    public void HotPathsSurviveCollectionsStartedByAnotherThread()
    {
        using var norm = new RmsNorm(64, 1e-6);
        using var outer = torch.NewDisposeScope();
        var x = torch.randn(16, 64, generator: new Generator(4));
        var q = torch.randn(1, 2, 16, 64, generator: new Generator(5));
        var cos = torch.randn(1, 16, 64, generator: new Generator(6));
        var sin = torch.randn(1, 16, 64, generator: new Generator(7));
        var expected = norm.forward(x).Plus(x).sum().item<float>() + RotaryEmbedding.Apply(q, cos, sin).sum().item<float>();
        var stop = DateTime.UtcNow.AddSeconds(3);
        var collector = new Thread(() =>
        {
            while (DateTime.UtcNow < stop)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        collector.Start();
        long rounds = 0;
        while (DateTime.UtcNow < stop)
        {
            using var scope = torch.NewDisposeScope();
            var value = norm.forward(x).Plus(x).sum().item<float>() + RotaryEmbedding.Apply(q, cos, sin).sum().item<float>();
            Assert.Equal(expected, value);
            rounds++;
        }
        collector.Join();
        Assert.True(rounds > 100, $"only {rounds} rounds ran");
    }
}
