using System.Text.Json;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers.Losses;
using TorchSharp;
using Xunit.Abstractions;
using static Microsoft.ML.Preference.Tests.Trainers.Losses.LossFixture;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers.Losses;

/// <summary>
/// MPO and the other losses on the tiny InternVL model's log-probs (cases.json `preference`, cases.safetensors):
/// the values a trainer will see on the fixture model, with SFT formed from the summed chosen log-probs.
/// </summary>
public class ModelLogProbsMpoTests
{
    private readonly ITestOutputHelper _output;
    private static readonly JsonElement Preference = Load("tiny-internvl", "cases.json").GetProperty("preference");

    public ModelLogProbsMpoTests(ITestOutputHelper output)
    {
        TorchRuntime.Initialize();
        _output = output;
    }

    private static PreferenceLossInputs Inputs() => new(
        Vector(Doubles(Preference.GetProperty("policy_chosen_logps"))),
        Vector(Doubles(Preference.GetProperty("policy_rejected_logps"))),
        Vector(Doubles(Preference.GetProperty("ref_chosen_logps"))),
        Vector(Doubles(Preference.GetProperty("ref_rejected_logps"))),
        torch.tensor(Doubles(Preference.GetProperty("chosen_token_counts")).Select(v => (long)v).ToArray()),
        torch.tensor(Doubles(Preference.GetProperty("rejected_token_counts")).Select(v => (long)v).ToArray()));

    [Fact]
    public void MpoOnModelLogProbsMatchesTheFixture()
    {
        var mpo = Preference.GetProperty("mpo");
        using var scope = NewDisposeScope();
        var inputs = Inputs();

        // sft = −Σ chosen logps / Σ chosen tokens must be the fixture's sft_nll (its token-mean cross-entropy).
        double sft = -Doubles(Preference.GetProperty("policy_chosen_logps")).Sum() / Doubles(Preference.GetProperty("chosen_token_counts")).Sum();
        double dev = AssertClose(sft, mpo.GetProperty("sft_nll").GetDouble(), "sft from sums");

        var output = new PreferenceLoss().Compute(inputs); // default options = MPO
        dev = Math.Max(dev, AssertClose(output.Loss.item<float>(), mpo.GetProperty("loss").GetDouble(), "mpo loss"));
        dev = Math.Max(dev, AssertClose(output.Term(PreferenceLossType.Sigmoid)!.Mean.item<float>(), mpo.GetProperty("sigmoid_mean").GetDouble(), "sigmoid mean"));
        dev = Math.Max(dev, AssertClose(output.Term(PreferenceLossType.BcoPair)!.Mean.item<float>(), mpo.GetProperty("bco_pair_mean").GetDouble(), "bco_pair mean"));
        dev = Math.Max(dev, AssertClose(output.Term(PreferenceLossType.Sft)!.Mean.item<float>(), mpo.GetProperty("sft_nll").GetDouble(), "sft"));
        dev = Math.Max(dev, AssertClose(output.BcoDelta!.Value, mpo.GetProperty("bco_pair_delta").GetDouble(), "bco delta"));

        // Per-pair MPO losses from the model run, and the per-token log-probs behind the sums.
        var tensors = FixtureSafetensors.Load("tiny-internvl", "cases.safetensors");
        dev = Math.Max(dev, AssertClose(output.Losses, ToDoubles(tensors["pref_expected_mpo_losses"]), "per-pair mpo losses"));
        var tokenLogps = tensors["pref_expected_policy_token_logps"];
        var counts = tensors["pref_expected_token_counts"];
        var explicitSft = inputs with { SftLogProbSum = tokenLogps.narrow(0, 0, 4).sum(), SftTokenCount = counts.narrow(0, 0, 4).sum() };
        var viaTokens = new PreferenceLoss().Compute(explicitSft);
        AssertClose(viaTokens.Term(PreferenceLossType.Sft)!.Mean.item<float>(), mpo.GetProperty("sft_nll").GetDouble(), "sft from token log-probs");
        _output.WriteLine($"mpo on model log-probs: max relative deviation {dev:E2}");
    }

    [Fact]
    public void EveryLossOnModelLogProbsMatchesTheFixture()
    {
        var all = Preference.GetProperty("losses_on_model_logps");
        foreach (var entry in all.EnumerateObject())
        {
            using var scope = NewDisposeScope();
            bool lengthNormalized = entry.Name == "ipo_length_normalized";
            var type = lengthNormalized ? PreferenceLossType.Ipo : PreferenceLossTypeNames.Parse(entry.Name);
            double ls = entry.Value.TryGetProperty("label_smoothing", out var l) ? l.GetDouble() : 0.0;
            var loss = new PreferenceLoss(PreferenceLossOptions.Single(type, 0.1, ls));
            var output = loss.Compute(Inputs());
            double dev = AssertClose(output.Losses, Doubles(entry.Value.GetProperty("losses")), $"{entry.Name} losses");
            dev = Math.Max(dev, AssertClose(output.Loss.item<float>(), entry.Value.GetProperty("loss").GetDouble(), $"{entry.Name} loss"));
            if (entry.Value.TryGetProperty("delta", out var delta))
                dev = Math.Max(dev, AssertClose(output.BcoDelta!.Value, delta.GetDouble(), $"{entry.Name} delta"));
            _output.WriteLine($"model {entry.Name}: max relative deviation {dev:E2}");
        }
        Assert.Equal(12, all.EnumerateObject().Count());
    }
}
