using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

public class LogProbsTests
{
    public LogProbsTests() => TorchRuntime.Initialize();

    [Fact]
    public void HandComputedExample()
    {
        using var scope = NewDisposeScope();
        // V = 3. Logits [0, ln 2, ln 5] give probabilities [1/8, 2/8, 5/8]; [0, 0, 0] gives 1/3 each.
        float l2 = MathF.Log(2), l5 = MathF.Log(5);
        var logits = torch.tensor(new float[]
        {
            0, l2, l5,   0, 0, 0,   l5, l2, 0,   9, 9, 9,   // row 0
            0, 0, 0,     0, l2, l5, 0, 0, 0,     1, 2, 3,   // row 1
        }, [2, 4, 3]);
        // Row 0: prompt at 0..1, completion tokens at 2 and 3. Row 1: completion at 1..2, padding (−100) at 3.
        var labels = torch.tensor(new long[] { -100, -100, 1, 0, -100, 2, 0, -100 }, [2, 4]);

        var r = LogProbs.Completion(logits, labels);

        // Row 0: logits[1] scores labels[2] = 1 → ln(1/3); logits[2] scores labels[3] = 0 → ln(5/8).
        // Row 1: logits[0] scores labels[1] = 2 → ln(1/3); logits[1] scores labels[2] = 0 → ln(1/8).
        double[] expected = [0, Math.Log(1.0 / 3), Math.Log(5.0 / 8), Math.Log(1.0 / 3), Math.Log(1.0 / 8), 0];
        Assert.Equal(new long[] { 2, 3 }, r.TokenLogProbs.shape);
        Assert.Equal(ScalarType.Float32, r.TokenLogProbs.dtype);
        var actual = r.TokenLogProbs.to_type(ScalarType.Float64).data<double>().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], actual[i], 6);
        Assert.Equal(Math.Log(1.0 / 3) + Math.Log(5.0 / 8), r.Sums[0].item<float>(), 5);
        Assert.Equal(Math.Log(1.0 / 3) + Math.Log(1.0 / 8), r.Sums[1].item<float>(), 5);
        Assert.Equal(new long[] { 2, 2 }, r.Counts.data<long>().ToArray());
        Assert.Equal((Math.Log(1.0 / 3) + Math.Log(5.0 / 8)) / 2, r.Averages()[0].item<float>(), 5);
    }

    [Fact]
    public void HalfPrecisionLogitsAreScoredInFloat32()
    {
        using var scope = NewDisposeScope();
        var logits = torch.randn(2, 5, 7, generator: torch.manual_seed(3)).to_type(ScalarType.BFloat16);
        var labels = torch.tensor(new long[] { -100, 3, 4, 5, -100, -100, -100, 1, 6, 2 }, [2, 5]);
        var half = LogProbs.Completion(logits, labels);
        var full = LogProbs.Completion(logits.to_type(ScalarType.Float32), labels);
        Assert.Equal(ScalarType.Float32, half.Sums.dtype);
        Assert.True(half.TokenLogProbs.eq(full.TokenLogProbs).all().item<bool>());
    }

    [Fact]
    public void MatchesTheTinyInternVlFixture()
    {
        using var scope = NewDisposeScope();
        var cases = FixtureSafetensors.Load("tiny-internvl", "cases.safetensors");
        var r = LogProbs.Completion(cases["expected_logits"], cases["labels"]);
        var token = (r.TokenLogProbs - cases["expected_token_logps"]).abs().max().item<float>();
        Assert.True(token < 1e-5, $"per-token max abs diff {token}");
        var sums = (r.Sums - cases["expected_response_logps"]).abs().max().item<float>();
        Assert.True(sums < 1e-4, $"summed max abs diff {sums}");
        Assert.True(r.Counts.eq(cases["expected_response_token_counts"]).all().item<bool>());
        // Off the completion the per-token values are exactly 0, as the fixture (and TRL's loss_mask) has them.
        var offCompletion = cases["labels"].narrow(1, 1, 33).eq(LogProbs.IgnoreIndex);
        Assert.Equal(0f, r.TokenLogProbs.masked_select(offCompletion).abs().sum().item<float>());
    }

    [Fact]
    public void BadShapesAreClearErrors()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => LogProbs.Completion(torch.zeros(2, 4, 3), torch.zeros(2, 5, dtype: ScalarType.Int64)));
        Assert.Contains("logits [B, T, V] and labels [B, T]", e.Message);
        Assert.Throws<ArgumentException>(() => LogProbs.Completion(torch.zeros(2, 4, 3), torch.zeros(2, 4)));
        Assert.Throws<ArgumentException>(() => LogProbs.Completion(torch.zeros(2, 1, 3), torch.zeros(2, 1, dtype: ScalarType.Int64)));
    }
}
