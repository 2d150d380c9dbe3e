using Microsoft.ML.Preference.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

/// <summary>
/// LogProbs.FromHiddenStates (chunks of positions, head recomputed in backward) against the full-logits path: the same
/// log-probs, logit sums and parameter gradients, whatever the chunk size; the fixture's expected values too.
/// </summary>
public class ChunkedLogProbsTests
{
    [Theory]
    [InlineData("internlm2", 1)]
    [InlineData("internlm2", 5)]
    [InlineData("qwen3", 7)]      // tied head: the embedding's gradient gets the head's share in the recompute
    [InlineData("qwen2", 1000)]   // one chunk
    public void ChunkedLogProbsAndGradientsEqualTheFullLogitsPath(string backbone, int chunk)
    {
        using var f = new TinyModelFixture(backbone);
        using var scope = torch.NewDisposeScope();
        var model = f.Policy;
        model.train();
        var pairTiles = f.Case("pixel_values").index_select(0, f.Case("pref_tile_index"));
        var pixels = torch.cat([pairTiles, pairTiles]);
        var ids = f.Case("pref_input_ids");
        var mask = f.Case("pref_attention_mask");
        var labels = f.Case("pref_labels");
        var lm = model.LanguageModel;
        Tensor Hidden() => lm.HiddenStates(model.InputEmbeddings(ids, model.VisionTokens(pixels, f.Case("pref_image_flags"), torch.CPU)), mask);

        model.zero_grad();
        var full = LogProbs.Completion(lm.OutputLogits(Hidden()), labels);
        (full.Sums.sum() * 0.5 + full.TokenLogProbs.pow(2).sum() * 0.01).backward();
        var fullGrads = model.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.clone());

        model.zero_grad();
        var (chunked, logitSums) = LogProbs.FromHiddenStates(lm.OutputLogits, Hidden(), labels, chunk);
        (chunked.Sums.sum() * 0.5 + chunked.TokenLogProbs.pow(2).sum() * 0.01).backward();

        TinyModelFixture.AssertClose(full.TokenLogProbs, chunked.TokenLogProbs, 1e-5, "token log-probs");
        TinyModelFixture.AssertClose(f.Case("pref_expected_policy_logps"), chunked.Sums, 1e-3, "fixture log-probs");
        Assert.Equal(full.Counts.data<long>().ToArray(), chunked.Counts.data<long>().ToArray());
        using (torch.no_grad())
        {
            var logits = lm.OutputLogits(Hidden());
            var scored = labels.narrow(1, 1, labels.shape[1] - 1).ne(LogProbs.IgnoreIndex).to(ScalarType.Float32);
            var expectedSums = (logits.narrow(1, 0, labels.shape[1] - 1).sum(-1) * scored).sum(1);
            TinyModelFixture.AssertClose(expectedSums, logitSums, 1e-2, "logit sums");
        }
        Assert.NotEmpty(fullGrads);
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!fullGrads.TryGetValue(name, out var expected))
                continue;
            Assert.NotNull(parameter.grad);
            double rel = (parameter.grad! - expected).norm().item<float>() / Math.Max(expected.norm().item<float>(), 1e-12);
            Assert.True(rel <= 1e-4, $"{name}: relative gradient difference {rel:E2}");
        }
    }

    [Fact]
    public void WithoutGradientsNoCheckpointIsRecorded()
    {
        using var f = new TinyModelFixture("internlm2");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var model = f.Policy;
        var hidden = model.LanguageModel.HiddenStates(model.InputEmbeddings(f.Case("input_ids"),
            model.VisionTokens(f.Case("pixel_values"), f.Case("image_flags"), torch.CPU)), f.Case("attention_mask"));
        long before = Microsoft.ML.Preference.Modeling.Layers.GradientCheckpoint.Recomputations;
        var (lp, _) = LogProbs.FromHiddenStates(model.LanguageModel.OutputLogits, hidden, f.Case("labels"), 4);
        TinyModelFixture.AssertClose(f.Case("expected_token_logps"), lp.TokenLogProbs, 1e-3, "token log-probs");
        Assert.False(lp.TokenLogProbs.requires_grad);
        Assert.Equal(before, Microsoft.ML.Preference.Modeling.Layers.GradientCheckpoint.Recomputations);
        Assert.Throws<ArgumentOutOfRangeException>(() => LogProbs.FromHiddenStates(model.LanguageModel.OutputLogits, hidden, f.Case("labels"), 0));
    }
}
