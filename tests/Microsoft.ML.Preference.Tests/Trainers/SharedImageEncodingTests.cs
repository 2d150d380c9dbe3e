using Microsoft.ML.Preference.Tests.Modeling;
using Microsoft.ML.Preference.Trainers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>
/// Encoding a pair's image once and reusing it for its chosen and rejected rows gives what TRL and InternVL
/// compute by encoding cat([P, P]): the same log-probs, and the same gradients.
/// </summary>
public class SharedImageEncodingTests
{
    [Theory]
    [InlineData("qwen2")]
    [InlineData("internlm2")]
    public void SharedEqualsTwiceEncodedAndTheReference(string backbone)
    {
        using var f = new TinyModelFixture(backbone);
        using var scope = torch.NewDisposeScope();
        var model = f.Policy;
        model.train();
        var ids = f.Case("pref_input_ids");
        var pairs = ids.shape[0] / 2;
        using var batch = new PreferenceBatch
        {
            RowIndices = Enumerable.Range(0, (int)pairs).Select(i => (long)i).ToArray(),
            PairTiles = f.Case("pixel_values").index_select(0, f.Case("pref_tile_index")),
            InputIds = ids,
            AttentionMask = f.Case("pref_attention_mask"),
            Labels = f.Case("pref_labels"),
            Tokens = 0,
        };
        Tensor Grad(bool share, out Tensor sums)
        {
            model.zero_grad();
            var lp = PolicyForward.LogProbs(model, batch, share);
            lp.Sums.sum().backward();
            sums = lp.Sums.detach();
            var qkv = model.named_parameters().Single(p => p.name == "vision_model.encoder.layers.0.attn.qkv.weight").parameter;
            return qkv.grad!.clone();
        }
        var gradShared = Grad(true, out var shared);
        var gradTwice = Grad(false, out var twice);
        TinyModelFixture.AssertClose(f.Case("pref_expected_policy_logps"), shared, 1e-3, "shared encoding vs reference");
        TinyModelFixture.AssertClose(twice, shared, 1e-5, "shared vs twice-encoded log-probs");
        double rel = (gradShared - gradTwice).norm().item<float>() / gradTwice.norm().item<float>();
        Assert.True(rel < 1e-5, $"vision gradient differs by {rel:E2} (relative)");
    }
}
