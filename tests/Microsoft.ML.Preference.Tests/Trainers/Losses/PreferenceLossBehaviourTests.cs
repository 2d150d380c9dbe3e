using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers.Losses;
using TorchSharp;
using static Microsoft.ML.Preference.Tests.Trainers.Losses.LossFixture;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers.Losses;

/// <summary>Gradients, detachment and dtype behaviour of <see cref="PreferenceLoss"/> and <see cref="OrpoLoss"/>.</summary>
public class PreferenceLossBehaviourTests
{
    public PreferenceLossBehaviourTests() => TorchRuntime.Initialize();

    [Fact]
    public void SigmoidGradientIsTheAnalyticOne()
    {
        using var scope = NewDisposeScope();
        var inputs = StandardInputs(requiresGrad: true);
        var output = new PreferenceLoss(PreferenceLossOptions.Single(PreferenceLossType.Sigmoid, beta: 0.1)).Compute(inputs);
        output.Loss.backward();

        // d/dpc mean_i −logσ(βz_i) = −β(1 − σ(βz_i))/B, and the opposite sign for pr.
        var pc = Doubles("policy_chosen_logps");
        var pr = Doubles("policy_rejected_logps");
        var rc = Doubles("ref_chosen_logps");
        var rr = Doubles("ref_rejected_logps");
        var expected = Enumerable.Range(0, 8).Select(i =>
        {
            double z = (pc[i] - pr[i]) - (rc[i] - rr[i]);
            return -0.1 * (1 - 1 / (1 + Math.Exp(-0.1 * z))) / 8;
        }).ToArray();
        AssertClose(inputs.PolicyChosenLogps.grad!, expected, "d loss / d pc", 1e-7);
        AssertClose(inputs.PolicyRejectedLogps.grad!, expected.Select(g => -g).ToArray(), "d loss / d pr", 1e-7);
    }

    public static TheoryData<PreferenceLossType> AllTypes() => new(Enum.GetValues<PreferenceLossType>());

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void GradientReachesThePolicyAndNeverTheReference(PreferenceLossType type)
    {
        using var scope = NewDisposeScope();
        var inputs = StandardInputs(requiresGrad: true);
        var refChosen = inputs.RefChosenLogps.requires_grad_(true);
        var refRejected = inputs.RefRejectedLogps.requires_grad_(true);
        var output = new PreferenceLoss(PreferenceLossOptions.Single(type, labelSmoothing: 0.1)).Compute(inputs);
        output.Loss.backward();

        var gc = ToDoubles(inputs.PolicyChosenLogps.grad!);
        Assert.All(gc, g => Assert.True(double.IsFinite(g)));
        Assert.Contains(gc, g => g != 0);
        if (type != PreferenceLossType.Sft) // sft reads only the chosen completions
            Assert.Contains(ToDoubles(inputs.PolicyRejectedLogps.grad!), g => g != 0);
        Assert.Null(refChosen.grad);
        Assert.Null(refRejected.grad);
        Assert.False(output.ChosenRewards.requires_grad);
        Assert.False(output.WeightedRejectedRewards.requires_grad);
    }

    [Fact]
    public void AotGradientFollowsTheSortPermutation()
    {
        using var scope = NewDisposeScope();
        var inputs = StandardInputs(requiresGrad: true);
        var output = new PreferenceLoss(PreferenceLossOptions.Single(PreferenceLossType.AotPair)).Compute(inputs);
        output.Loss.backward();
        // d = sort(Δc) − sort(Δr): example i's Δc sits at rank r(i) and gets −β(1 − σ(β·d_r(i)))/B.
        var dc = Doubles("policy_chosen_logps").Zip(Doubles("ref_chosen_logps"), (p, r) => p - r).ToArray();
        var dr = Doubles("policy_rejected_logps").Zip(Doubles("ref_rejected_logps"), (p, r) => p - r).ToArray();
        var sc = dc.Order().ToArray();
        var sr = dr.Order().ToArray();
        var expected = dc.Select(v =>
        {
            int rank = Array.IndexOf(sc, v);
            double d = sc[rank] - sr[rank];
            return -0.1 * (1 - 1 / (1 + Math.Exp(-0.1 * d))) / 8;
        }).ToArray();
        AssertClose(inputs.PolicyChosenLogps.grad!, expected, "aot_pair d/dpc", 1e-7);
    }

    [Fact]
    public void MpoGradientIsTheWeightedSumOfTheTermGradients()
    {
        using var scope = NewDisposeScope();
        double[] GradOf(PreferenceLossOptions options)
        {
            var inputs = StandardInputs(requiresGrad: true);
            new PreferenceLoss(options).Compute(inputs).Loss.backward();
            return ToDoubles(inputs.PolicyChosenLogps.grad!);
        }
        var mpo = GradOf(PreferenceLossOptions.Mpo);
        var sigmoid = GradOf(PreferenceLossOptions.Single(PreferenceLossType.Sigmoid));
        var bco = GradOf(PreferenceLossOptions.Single(PreferenceLossType.BcoPair));
        var sft = GradOf(PreferenceLossOptions.Single(PreferenceLossType.Sft));
        // sft = −Σ pc / Σ n: every chosen log-prob gets −1/Σn.
        Assert.All(sft, g => Assert.Equal(-1.0 / 340, g, 1e-9));
        var expected = Enumerable.Range(0, 8).Select(i => 0.8 * sigmoid[i] + 0.2 * bco[i] + sft[i]).ToArray();
        Assert.True(Deviation(mpo, expected) < 1e-7);
    }

    [Fact]
    public void OrpoGradientIsFiniteNearZeroLogProbs()
    {
        using var scope = NewDisposeScope();
        // −1e-6 and −5 exercise both branches of log1mexp; the where() must not leak a NaN from the other branch.
        var ac = torch.tensor(new[] { -1e-6f, -5f, -0.5f, -0.9f }).requires_grad_(true);
        var ar = torch.tensor(new[] { -5f, -1e-6f, -0.9f, -0.5f }).requires_grad_(true);
        var output = OrpoLoss.Compute(ac, ar, torch.tensor(1.0f));
        output.Loss.backward();
        Assert.All(ToDoubles(ac.grad!), g => Assert.True(double.IsFinite(g)));
        Assert.All(ToDoubles(ar.grad!), g => Assert.True(double.IsFinite(g)));
        var lm = ToDoubles(OrpoLoss.Log1MExp(torch.tensor(new[] { -1e-6, -0.5, -0.7, -5.0, -40.0 })));
        double[] exact = [Math.Log(1e-6 - 5e-13), Math.Log(1 - Math.Exp(-0.5)), Math.Log(1 - Math.Exp(-0.7)), Math.Log(1 - Math.Exp(-5.0)), -Math.Exp(-40.0)];
        Assert.True(Deviation(lm, exact) < 1e-12, string.Join(", ", lm));
    }

    [Fact]
    public void OutputsSurviveTheCallersDisposeScopeOnly()
    {
        PreferenceLossOutput output;
        using (var outer = NewDisposeScope())
        {
            output = new PreferenceLoss().Compute(StandardInputs());
            Assert.False(output.Loss.IsInvalid);
            Assert.False(output.Terms[0].Losses.IsInvalid);
            Assert.True(double.IsFinite(output.Loss.item<float>()));
        }
        Assert.True(output.Loss.IsInvalid);
    }
}
