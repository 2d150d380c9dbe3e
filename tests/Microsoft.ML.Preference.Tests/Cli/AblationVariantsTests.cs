using Microsoft.ML.Preference.Cli.Quickstart;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;

namespace Microsoft.ML.Preference.Tests.Cli;

public class AblationVariantsTests
{
    [Fact]
    public void EveryLossOfTheAblationAndItsSftVariantIsTrained()
    {
        var variants = AblationRunner.Variants(beta: 0.3);
        var names = variants.Select(v => v.Name).ToList();
        Assert.Equal(["SFT", "MPO", "MPO-step", "DPO", "DPO+", "RSO", "RSO+", "IPO", "IPO+", "cDPO", "cDPO+", "RobustDPO", "RobustDPO+", "BCO", "BCO+",
            "SPPO", "SPPO+", "AOT", "AOT+", "TR-DPO", "TR-DPO+", "ORPO"], names);
        foreach (var (name, loss, change) in variants)
        {
            loss.Validate();
            Assert.Equal(name.EndsWith('+') || name is "SFT" or "MPO" or "MPO-step", loss.Terms.Any(t => t.Type == PreferenceLossType.Sft) && name != "ORPO");
            Assert.Equal(0.3, loss.Beta); // the --beta of the run reaches every loss
            var options = new MpoTrainer.Options();
            change?.Invoke(options);
            Assert.Equal(name.StartsWith("TR-DPO", StringComparison.Ordinal), options.ReferenceSyncSteps > 0);
            Assert.Equal(name == "ORPO", options.UseOrpo);
            Assert.Equal(name == "MPO-step" ? RejectedSpan.FirstDivergentStep : RejectedSpan.WholeResponse, options.RejectedSpan);
        }
        Assert.Equal(0.1, variants.Single(v => v.Name == "cDPO").Loss.LabelSmoothing);
        Assert.Equal(PreferenceLossOptions.MpoTerms, variants.Single(v => v.Name == "MPO").Loss.Terms);
        Assert.Equal(PreferenceLossOptions.MpoTerms, variants.Single(v => v.Name == "MPO-step").Loss.Terms);
        Assert.True(variants.Single(v => v.Name == "SFT").Loss.IsSftOnly);
    }
}
