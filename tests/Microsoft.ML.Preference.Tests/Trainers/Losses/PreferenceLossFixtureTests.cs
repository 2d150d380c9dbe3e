using System.Text.Json;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers.Losses;
using TorchSharp;
using Xunit.Abstractions;
using static Microsoft.ML.Preference.Tests.Trainers.Losses.LossFixture;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers.Losses;

/// <summary>Every entry of losses.json `results`, computed by <see cref="PreferenceLoss"/> in float32 (and float64).</summary>
public class PreferenceLossFixtureTests
{
    private readonly ITestOutputHelper _output;

    public PreferenceLossFixtureTests(ITestOutputHelper output)
    {
        TorchRuntime.Initialize();
        _output = output;
    }

    /// <summary>The single-type entries; bco_pair_step2, orpo_odds_ratio and mpo have their own tests below.</summary>
    public static readonly string[] SingleTypeKeys =
    [
        "sigmoid", "sigmoid@ls0.1", "hinge", "ipo", "exo_pair", "exo_pair@ls0", "nca_pair", "robust", "bco_pair",
        "sppo_hard", "aot", "aot@ls0.1", "aot_pair", "aot_pair@ls0.1", "apo_zero", "apo_down", "discopop",
        "ipo_length_normalized", "sft",
    ];

    public static TheoryData<string, string> SingleTypeCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var key in SingleTypeKeys)
        {
            data.Add(key, "float32");
            data.Add(key, "float64");
        }
        return data;
    }

    [Fact]
    public void EveryFixtureEntryIsCovered()
    {
        // bco_pair_no_delta_trl_0.29 is TRL >= 0.29 behaviour, shown in the fixture "for comparison only".
        var covered = SingleTypeKeys.Concat(["bco_pair_step2", "orpo_odds_ratio", "mpo", "bco_pair_no_delta_trl_0.29"]).Order();
        Assert.Equal(covered, Results.EnumerateObject().Select(p => p.Name).Order());
    }

    [Theory]
    [MemberData(nameof(SingleTypeCases))]
    public void SingleLossTypeMatchesTrl(string key, string dtypeName)
    {
        var dtype = dtypeName == "float32" ? ScalarType.Float32 : ScalarType.Float64;
        // float32 is what a model gives and what the fixture's tolerance is for; float64 must agree far more tightly.
        double tolerance = dtype == ScalarType.Float32 ? Tolerance : 1e-9;
        var entry = Result(key);
        var type = PreferenceLossTypeNames.Parse(entry.GetProperty("loss_type").GetString());
        double ls = entry.TryGetProperty("label_smoothing", out var l) ? l.GetDouble() : 0.0;
        var options = PreferenceLossOptions.Single(type, Beta, ls) with { DiscoPopTau = Json.GetProperty("discopop_tau").GetDouble() };

        using var scope = NewDisposeScope();
        var inputs = StandardInputs(dtype);
        if (key == "ipo")
        {
            // This entry applies the IPO formula to the raw sums. PreferenceLoss always length-normalises for ipo (TRL
            // semantics, checked by ipo_length_normalized), so lengths of 1 give the raw formula.
            var ones = torch.ones(8, dtype: ScalarType.Int64);
            inputs = inputs with { ChosenTokenCounts = ones, RejectedTokenCounts = ones };
        }

        var output = new PreferenceLoss(options).Compute(inputs);

        Assert.Equal(dtype, output.Losses.dtype);
        double dev = AssertClose(output.Losses, Doubles(entry.GetProperty("losses")), $"{key} losses", tolerance);
        dev = Math.Max(dev, AssertClose(output.Loss.to_type(ScalarType.Float64).item<double>(), entry.GetProperty("loss").GetDouble(), $"{key} loss", tolerance));
        dev = Math.Max(dev, AssertClose(output.ChosenRewards, Doubles(entry.GetProperty("chosen_rewards")), $"{key} chosen_rewards", tolerance));
        dev = Math.Max(dev, AssertClose(output.RejectedRewards, Doubles(entry.GetProperty("rejected_rewards")), $"{key} rejected_rewards", tolerance));
        // One term of weight 1: TRL's logged rewards are the plain rewards.
        dev = Math.Max(dev, AssertClose(output.WeightedChosenRewards, Doubles(entry.GetProperty("chosen_rewards")), $"{key} logged chosen", tolerance));
        var term = Assert.Single(output.Terms);
        Assert.Equal(type, term.Term.Type);
        AssertClose(term.Mean.to_type(ScalarType.Float64).item<double>(), entry.GetProperty("loss").GetDouble(), $"{key} term mean", tolerance);

        if (type == PreferenceLossType.BcoPair)
            dev = Math.Max(dev, AssertClose(output.BcoDelta!.Value, entry.GetProperty("delta").GetDouble(), "bco delta", tolerance));
        else
            Assert.Null(output.BcoDelta);

        _output.WriteLine($"{key} [{dtypeName}]: max relative deviation {dev:E2}");
    }

    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    public void BcoPairSecondStepContinuesTheRunningMean(string dtypeName)
    {
        var dtype = dtypeName == "float32" ? ScalarType.Float32 : ScalarType.Float64;
        double tolerance = dtype == ScalarType.Float32 ? Tolerance : 1e-9;
        using var scope = NewDisposeScope();
        var loss = new PreferenceLoss(PreferenceLossOptions.Single(PreferenceLossType.BcoPair, Beta));

        var first = loss.Compute(StandardInputs(dtype));
        var step1 = Result("bco_pair");
        AssertClose(first.BcoDelta!.Value, step1.GetProperty("delta").GetDouble(), "step 1 delta", tolerance);
        // A fresh RunningMoments: δ is the batch mean reward (up to float32 summation of the 16 rewards).
        Assert.Equal(step1.GetProperty("batch_mean_reward").GetDouble(), first.BcoDelta.Value, 1e-7);

        var second = loss.Compute(StandardInputs(dtype, step2: true));
        var step2 = Result("bco_pair_step2");
        double dev = AssertClose(second.Losses, Doubles(step2.GetProperty("losses")), "step 2 losses", tolerance);
        dev = Math.Max(dev, AssertClose(second.Loss.to_type(ScalarType.Float64).item<double>(), step2.GetProperty("loss").GetDouble(), "step 2 loss", tolerance));
        dev = Math.Max(dev, AssertClose(second.ChosenRewards, Doubles(step2.GetProperty("chosen_rewards")), "step 2 chosen rewards", tolerance));
        dev = Math.Max(dev, AssertClose(second.RejectedRewards, Doubles(step2.GetProperty("rejected_rewards")), "step 2 rejected rewards", tolerance));
        dev = Math.Max(dev, AssertClose(second.BcoDelta!.Value, step2.GetProperty("delta").GetDouble(), "step 2 delta", tolerance));
        // δ2 = (m1 + m2)/2: the equal-weight running mean, not the last batch and not an EMA.
        double m1 = step1.GetProperty("batch_mean_reward").GetDouble(), m2 = step2.GetProperty("batch_mean_reward").GetDouble();
        Assert.Equal((m1 + m2) / 2, second.BcoDelta.Value, 1e-7);
        Assert.Equal(2.0, loss.RunningMoments.Count, 12);
        _output.WriteLine($"bco_pair_step2 [{dtypeName}]: max relative deviation {dev:E2}");
    }

    [Fact]
    public void MpoCombinationMatchesTrl()
    {
        var entry = Result("mpo");
        var options = PreferenceLossOptions.FromTrl(
            entry.GetProperty("loss_type").EnumerateArray().Select(e => e.GetString()!).ToArray(),
            Doubles(entry.GetProperty("loss_weights")), Beta);
        Assert.Equal(PreferenceLossOptions.MpoTerms, options.Terms);
        Assert.Equal(PreferenceLossOptions.MpoTerms, new PreferenceLossOptions().Terms); // the default is MPO

        using var scope = NewDisposeScope();
        var output = new PreferenceLoss(options).Compute(StandardInputs());

        double dev = AssertClose(output.Losses, Doubles(entry.GetProperty("losses")), "mpo losses");
        dev = Math.Max(dev, AssertClose(output.Loss.item<float>(), entry.GetProperty("loss").GetDouble(), "mpo loss"));
        var components = entry.GetProperty("components_mean");
        foreach (var term in output.Terms)
        {
            dev = Math.Max(dev, AssertClose(term.Mean.item<float>(), components.GetProperty(term.Term.Type.ToTrlName()).GetDouble(),
                $"mpo {term.Term.Type} mean"));
        }
        Assert.Equal([PreferenceLossType.Sigmoid, PreferenceLossType.BcoPair, PreferenceLossType.Sft], output.Terms.Select(t => t.Term.Type));
        dev = Math.Max(dev, AssertClose(output.BcoDelta!.Value, entry.GetProperty("bco_delta").GetDouble(), "mpo bco delta"));
        dev = Math.Max(dev, AssertClose(output.WeightedChosenRewards, Doubles(entry.GetProperty("logged_rewards_chosen")), "mpo logged chosen"));
        dev = Math.Max(dev, AssertClose(output.WeightedRejectedRewards, Doubles(entry.GetProperty("logged_rewards_rejected")), "mpo logged rejected"));
        // The unweighted rewards are β·Δ, as for every single type.
        AssertClose(output.ChosenRewards, Doubles(Result("sigmoid").GetProperty("chosen_rewards")), "mpo chosen rewards");
        // The combination is the weighted sum of the single-type losses per example.
        var expected = ToDoubles(output.Term(PreferenceLossType.Sigmoid)!.Losses).Zip(ToDoubles(output.Term(PreferenceLossType.BcoPair)!.Losses),
            (s, b) => 0.8 * s + 0.2 * b + Result("sft").GetProperty("loss").GetDouble()).ToArray();
        AssertClose(output.Losses, expected, "mpo = Σ w·l");
        _output.WriteLine($"mpo: max relative deviation {dev:E2}");
    }

    [Fact]
    public void OrpoOddsRatioMatchesTrl()
    {
        var entry = Result("orpo_odds_ratio");
        using var scope = NewDisposeScope();
        var ac = Vector(Doubles(entry.GetProperty("avg_chosen_logps")));
        var ar = Vector(Doubles(entry.GetProperty("avg_rejected_logps")));

        // The fixture's averages are the float32 per-token means of the completion token log-probs.
        var fromTokens = Rows("chosen_token_logps").Select(r => r.Sum() / r.Length).ToArray();
        AssertClose(ac, fromTokens, "avg_chosen_logps vs token means", 1e-7);

        double sft = Result("sft").GetProperty("loss").GetDouble();
        var output = OrpoLoss.Compute(ac, ar, torch.tensor((float)sft), entry.GetProperty("beta").GetDouble());

        double dev = AssertClose(output.LogOdds, Doubles(entry.GetProperty("log_odds")), "log_odds");
        dev = Math.Max(dev, AssertClose(output.LogSigmoidLogOdds, Doubles(entry.GetProperty("log_sigmoid_log_odds")), "log_sigmoid_log_odds"));
        dev = Math.Max(dev, AssertClose(output.Losses, Doubles(entry.GetProperty("losses")), "orpo losses"));
        dev = Math.Max(dev, AssertClose(output.MeanLosses.item<float>(), entry.GetProperty("mean_losses").GetDouble(), "orpo mean_losses"));
        dev = Math.Max(dev, AssertClose(output.Loss.item<float>(), entry.GetProperty("orpo_total_if_nll_is_sft").GetDouble(), "orpo total"));
        AssertClose(output.ChosenRewards, Doubles(entry.GetProperty("avg_chosen_logps")).Select(v => 0.1 * v).ToArray(), "orpo chosen rewards");
        _output.WriteLine($"orpo_odds_ratio: max relative deviation {dev:E2}");
    }

    [Fact]
    public void SftIsATokenMeanOverAllChosenCompletionTokens()
    {
        var entry = Result("sft");
        var rows = Rows("chosen_token_logps");
        using var scope = NewDisposeScope();
        // Explicit SFT inputs built from the token log-probs themselves, summed in float32 as a model would.
        var tokenSum = torch.tensor(rows.SelectMany(r => r).Select(v => (float)v).ToArray()).sum();
        var tokenCount = torch.tensor((long)rows.Sum(r => r.Length));
        Assert.Equal(entry.GetProperty("num_tokens").GetInt64(), tokenCount.item<long>());

        var inputs = StandardInputs() with { SftLogProbSum = tokenSum, SftTokenCount = tokenCount };
        var output = new PreferenceLoss(PreferenceLossOptions.Single(PreferenceLossType.Sft)).Compute(inputs);
        AssertClose(output.Losses, Doubles(entry.GetProperty("losses")), "sft from token log-probs");

        // A mean of per-sequence means is a different number here, so the check above can tell them apart.
        double meanOfMeans = -rows.Average(r => r.Average());
        Assert.True(Math.Abs(meanOfMeans - entry.GetProperty("loss").GetDouble()) > 1e-3);
    }

    [Fact]
    public void IpoLengthNormalisationAppliesToEveryTermOfTheCombination()
    {
        using var scope = NewDisposeScope();
        var combined = new PreferenceLoss(new PreferenceLossOptions
        {
            Terms = [new(PreferenceLossType.Ipo, 1.0), new(PreferenceLossType.Sigmoid, 0.5), new(PreferenceLossType.Sft, 1.0)],
        }).Compute(StandardInputs());

        // TRL divides the summed log-probs by the lengths before dpo_loss, so sigmoid sees the averages too ...
        var nc = Doubles("chosen_token_counts");
        var nr = Doubles("rejected_token_counts");
        var ones = torch.ones(8, dtype: ScalarType.Int64);
        var averaged = new PreferenceLossInputs(
            Vector(Doubles("policy_chosen_logps").Zip(nc, (p, n) => (double)(float)((float)p / (float)n)).ToArray()),
            Vector(Doubles("policy_rejected_logps").Zip(nr, (p, n) => (double)(float)((float)p / (float)n)).ToArray()),
            Vector(Doubles("ref_chosen_logps").Zip(nc, (p, n) => (double)(float)((float)p / (float)n)).ToArray()),
            Vector(Doubles("ref_rejected_logps").Zip(nr, (p, n) => (double)(float)((float)p / (float)n)).ToArray()),
            ones, ones);
        var sigmoidOnAverages = new PreferenceLoss(PreferenceLossOptions.Single(PreferenceLossType.Sigmoid)).Compute(averaged);
        AssertClose(combined.Term(PreferenceLossType.Sigmoid)!.Losses, ToDoubles(sigmoidOnAverages.Losses), "sigmoid next to ipo", 1e-7);
        AssertClose(combined.Term(PreferenceLossType.Ipo)!.Losses, Doubles(Result("ipo_length_normalized").GetProperty("losses")), "ipo term");
        AssertClose(combined.ChosenRewards, Doubles(Result("ipo_length_normalized").GetProperty("chosen_rewards")), "rewards on averages");
        // ... but sft keeps its own token mean of the raw sums.
        AssertClose(combined.Term(PreferenceLossType.Sft)!.Losses, Doubles(Result("sft").GetProperty("losses")), "sft next to ipo");
    }
}
