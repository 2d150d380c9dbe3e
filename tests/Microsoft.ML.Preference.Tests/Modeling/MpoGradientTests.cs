using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Trainers.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

/// <summary>
/// The preference batch of the fixtures end to end: policy and reference log-probs of 4 chosen/rejected pairs,
/// the MPO loss (0.8 sigmoid + 0.2 bco_pair + 1.0 sft) and its gradient for every parameter the fixture lists.
/// </summary>
public class MpoGradientTests
{
    [Theory]
    [InlineData("qwen2", false)]
    [InlineData("internlm2", false)]
    [InlineData("qwen2", true)]      // gradient checkpointing must not change a single gradient
    [InlineData("internlm2", true)]
    [InlineData("phi3", false)]
    [InlineData("llama", false)]
    [InlineData("internlm3", true)]
    [InlineData("qwen3", false)]
    public void MpoLossAndParameterGradientsMatch(string backbone, bool gradientCheckpointing)
    {
        using var f = new TinyModelFixture(backbone);
        using var reference = f.LoadReference();
        using var scope = torch.NewDisposeScope();
        var model = f.Policy;
        model.train();
        model.GradientCheckpointing = gradientCheckpointing;

        var pairTiles = f.Case("pixel_values").index_select(0, f.Case("pref_tile_index"));
        var pixels = torch.cat([pairTiles, pairTiles]);
        var ids = f.Case("pref_input_ids");
        var mask = f.Case("pref_attention_mask");
        var labels = f.Case("pref_labels");
        var flags = f.Case("pref_image_flags");
        long pairs = ids.shape[0] / 2;

        var policy = LogProbs.Completion(model.Forward(pixels, ids, mask, flags), labels);
        CompletionLogProbs refLogps;
        using (torch.no_grad())
            refLogps = LogProbs.Completion(reference.Forward(pixels, ids, mask, flags), labels);

        TinyModelFixture.AssertClose(f.Case("pref_expected_policy_logps"), policy.Sums, 1e-3, "policy log-probs");
        TinyModelFixture.AssertClose(f.Case("pref_expected_ref_logps"), refLogps.Sums, 1e-3, "reference log-probs");
        TinyModelFixture.AssertClose(f.Case("pref_expected_policy_token_logps"), policy.TokenLogProbs, 1e-3, "policy token log-probs");
        Assert.Equal(f.Case("pref_expected_token_counts").data<long>().ToArray(), policy.Counts.data<long>().ToArray());

        var loss = new PreferenceLoss(PreferenceLossOptions.Mpo).Compute(new PreferenceLossInputs(
            policy.Sums[..(int)pairs], policy.Sums[(int)pairs..],
            refLogps.Sums[..(int)pairs], refLogps.Sums[(int)pairs..],
            policy.Counts[..(int)pairs], policy.Counts[(int)pairs..]));
        TinyModelFixture.AssertClose(f.Case("pref_expected_mpo_losses"), loss.Losses, 1e-4, "per-pair MPO losses");

        model.zero_grad();
        long recomputedBefore = Microsoft.ML.Preference.Modeling.Layers.GradientCheckpoint.Recomputations;
        loss.Loss.backward();
        long recomputed = Microsoft.ML.Preference.Modeling.Layers.GradientCheckpoint.Recomputations - recomputedBefore;
        if (gradientCheckpointing)
            Assert.True(recomputed >= 4, $"only {recomputed} layers were recomputed"); // 2 vision + 2 decoder layers

        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var expectedNames = f.CaseNames.Where(n => n.StartsWith("pref_expected_grad.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(expectedNames);
        if (backbone == "internlm2")
            Assert.Equal(parameters.Count, expectedNames.Count); // that fixture lists every parameter
        foreach (var name in expectedNames)
        {
            var param = name["pref_expected_grad.".Length..];
            Assert.True(parameters.ContainsKey(param), $"no parameter {param}");
            var grad = parameters[param].grad;
            Assert.NotNull(grad);
            var expected = f.Case(name);
            double rel = (grad - expected).norm().item<float>() / Math.Max(expected.norm().item<float>(), 1e-12);
            Assert.True(rel <= 1e-3, $"{param}: relative gradient error {rel:E2}");
        }
    }
}
