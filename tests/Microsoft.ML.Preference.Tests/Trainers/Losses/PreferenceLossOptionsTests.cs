using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers.Losses;
using TorchSharp;
using static Microsoft.ML.Preference.Tests.Trainers.Losses.LossFixture;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers.Losses;

/// <summary>Names, option parsing and the errors a user sees for bad configurations.</summary>
public class PreferenceLossOptionsTests
{
    public PreferenceLossOptionsTests() => TorchRuntime.Initialize();

    [Fact]
    public void EveryTypeRoundTripsThroughItsTrlName()
    {
        string[] trl = ["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_pair",
                        "apo_zero", "apo_down", "discopop", "sft"];
        Assert.Equal(trl, PreferenceLossTypeNames.All);
        Assert.Equal(trl, Enum.GetValues<PreferenceLossType>().Select(t => t.ToTrlName()));
        foreach (var type in Enum.GetValues<PreferenceLossType>())
            Assert.Equal(type, PreferenceLossTypeNames.Parse(type.ToTrlName()));
        Assert.Equal(PreferenceLossType.BcoPair, PreferenceLossTypeNames.Parse(" BCO_PAIR "));
        Assert.Equal(PreferenceLossType.DiscoPop, PreferenceLossTypeNames.Parse("DiscoPop"));
    }

    [Fact]
    public void AnUnknownNameListsTheValidOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => PreferenceLossTypeNames.Parse("kto"));
        Assert.Contains("'kto' is not a preference loss type", e.Message);
        foreach (var name in PreferenceLossTypeNames.All)
            Assert.Contains(name, e.Message);
        Assert.Contains("aot_pair", Assert.Throws<ArgumentException>(() => PreferenceLossTypeNames.Parse("aot_unpaired")).Message);
        Assert.Contains("OrpoLoss", Assert.Throws<ArgumentException>(() => PreferenceLossTypeNames.Parse("orpo")).Message);
        Assert.False(PreferenceLossTypeNames.TryParse(null, out _));
        Assert.Throws<ArgumentException>(() => PreferenceLossOptions.FromTrl(["sigmoid", "bco"]));
    }

    [Fact]
    public void TermsParseFromTheCommandLineForm()
    {
        Assert.Equal(PreferenceLossOptions.MpoTerms, PreferenceLossOptions.ParseTerms("sigmoid:0.8, bco_pair:0.2, sft"));
        Assert.Equal(PreferenceLossOptions.MpoTerms, PreferenceLossOptions.ParseTerms(string.Join(",", PreferenceLossOptions.MpoTerms)));
        Assert.Equal([new PreferenceLossTerm(PreferenceLossType.Ipo, 1.0)], PreferenceLossOptions.ParseTerms("ipo"));
        var e = Assert.Throws<ArgumentException>(() => PreferenceLossOptions.ParseTerms("sigmoid:heavy"));
        Assert.Contains("'heavy' is not a number", e.Message);
        var lengths = Assert.Throws<ArgumentException>(() => PreferenceLossOptions.FromTrl(["sigmoid", "sft"], [1.0]));
        Assert.Contains("one weight per loss type", lengths.Message);
    }

    public static TheoryData<string, PreferenceLossOptions, string> BadOptions() => new()
    {
        { "empty", new PreferenceLossOptions { Terms = [] }, "Terms is empty" },
        { "negative weight", new PreferenceLossOptions { Terms = [new(PreferenceLossType.Sigmoid, -0.5)] }, "weight of 'sigmoid' is -0.5" },
        { "NaN weight", new PreferenceLossOptions { Terms = [new(PreferenceLossType.Hinge, double.NaN)] }, "weight of 'hinge' is NaN" },
        { "all zero", new PreferenceLossOptions { Terms = [new(PreferenceLossType.Sigmoid, 0), new(PreferenceLossType.Sft, 0)] }, "every weight is 0" },
        { "duplicate", new PreferenceLossOptions { Terms = [new(PreferenceLossType.BcoPair, 0.1), new(PreferenceLossType.BcoPair, 0.1)] }, "lists 'bco_pair' 2 times" },
        { "beta 0", PreferenceLossOptions.Single(PreferenceLossType.Sigmoid, beta: 0), "Beta = 0" },
        { "negative ε", PreferenceLossOptions.Single(PreferenceLossType.Sigmoid, labelSmoothing: -0.1), "LabelSmoothing = -0.1; it must be in [0, 0.5)" },
        { "ε too large", PreferenceLossOptions.Single(PreferenceLossType.ExoPair, labelSmoothing: 0.7), "LabelSmoothing = 0.7; it must be in [0, 0.5)" },
        { "robust ε 0.5", PreferenceLossOptions.Single(PreferenceLossType.Robust, labelSmoothing: 0.5), "divides by 1 − 2ε" },
        { "tau", PreferenceLossOptions.Single(PreferenceLossType.DiscoPop) with { DiscoPopTau = 0 }, "DiscoPopTau = 0" },
        { "ema decay", PreferenceLossOptions.Mpo with { BcoShift = BcoShiftMode.ExponentialMovingAverage, BcoEmaDecay = 1.0 }, "BcoEmaDecay = 1" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void BadOptionsAreClearErrors(string what, PreferenceLossOptions options, string message)
    {
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(message, e.Message);
        Assert.Throws<ArgumentException>(() => new PreferenceLoss(options));
        Assert.NotEmpty(what);
    }

    [Fact]
    public void DefaultsAreMpo()
    {
        var o = new PreferenceLossOptions();
        o.Validate();
        Assert.Equal(0.1, o.Beta);
        Assert.Equal(0.0, o.LabelSmoothing);
        Assert.Equal(0.05, o.DiscoPopTau);
        Assert.Equal(2.0, o.TotalWeight, 12);
        Assert.False(o.LengthNormalizesLogProbs);
        Assert.Equal(BcoShiftMode.RunningMean, o.BcoShift);
    }

    [Fact]
    public void BadInputsAreClearErrors()
    {
        using var scope = NewDisposeScope();
        var loss = new PreferenceLoss(PreferenceLossOptions.Single(PreferenceLossType.Ipo));
        var good = StandardInputs();

        var shape = Assert.Throws<ArgumentException>(() => loss.Compute(good with { RefRejectedLogps = torch.zeros(7) }));
        Assert.Contains("RefRejectedLogps must have shape [8]", shape.Message);
        var dtype = Assert.Throws<ArgumentException>(() => loss.Compute(good with { RefChosenLogps = good.RefChosenLogps.to_type(ScalarType.Float64) }));
        Assert.Contains("one dtype", dtype.Message);
        var integer = Assert.Throws<ArgumentException>(() => loss.Compute(good with { PolicyChosenLogps = torch.zeros(8, dtype: ScalarType.Int64) }));
        Assert.Contains("floating point", integer.Message);
        var matrix = Assert.Throws<ArgumentException>(() => loss.Compute(good with { PolicyChosenLogps = torch.zeros(8, 1) }));
        Assert.Contains("vector [B]", matrix.Message);
        var empty = Assert.Throws<ArgumentException>(() => loss.Compute(good with { ChosenTokenCounts = torch.zeros(8, dtype: ScalarType.Int64) }));
        Assert.Contains("ChosenTokenCounts must be > 0", empty.Message);
        var moments = Assert.Throws<ArgumentException>(() => new PreferenceLoss(PreferenceLossOptions.Mpo, new BcoRunningMoments(BcoShiftMode.ExponentialMovingAverage)));
        Assert.Contains("ExponentialMovingAverage", moments.Message);
    }
}
