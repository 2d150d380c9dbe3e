using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

/// <summary>Every stage of the forward pass against the independent PyTorch implementation, for both decoders.</summary>
public class InternVLForwardTests
{
    [Theory]
    [InlineData("qwen2")]
    [InlineData("internlm2")]
    public void VisionPixelShuffleProjectorAndImageInsertionMatch(string backbone)
    {
        using var f = new TinyModelFixture(backbone);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var pixels = f.Case("pixel_values");
        var model = f.Policy;

        TinyModelFixture.AssertClose(f.Case("expected_vision_last_hidden_state"), model.VisionModel.forward(pixels), 1e-4, "vision hidden state");
        TinyModelFixture.AssertClose(f.Case("expected_pixel_shuffle"), model.ShuffledVisionFeatures(pixels), 1e-4, "pixel shuffle");
        var vit = model.ExtractFeature(pixels);
        TinyModelFixture.AssertClose(f.Case("expected_vit_embeds"), vit.reshape(-1, vit.shape[^1]), 1e-4, "vit embeds");
        var embeds = model.InputEmbeddings(f.Case("input_ids"), model.VisionTokens(pixels, f.Case("image_flags"), torch.CPU));
        TinyModelFixture.AssertClose(f.Case("expected_input_embeds"), embeds, 1e-5, "input embeds");
    }

    [Theory]
    [InlineData("qwen2", "cases.safetensors")]
    [InlineData("internlm2", "cases.safetensors")]
    [InlineData("internlm2", "cases-t24.safetensors")]
    [InlineData("internlm2", "cases-t25.safetensors")]
    public void LogitsAndLogProbsMatch(string backbone, string cases)
    {
        using var f = new TinyModelFixture(backbone, cases);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var logits = f.Policy.Forward(f.Case("pixel_values"), f.Case("input_ids"), f.Case("attention_mask"), f.Case("image_flags"));
        TinyModelFixture.AssertClose(f.Case("expected_logits"), logits, 1e-4, "logits");

        var logps = LogProbs.Completion(logits, f.Case("labels"));
        TinyModelFixture.AssertClose(f.Case("expected_token_logps"), logps.TokenLogProbs, 1e-3, "token log-probs");
        TinyModelFixture.AssertClose(f.Case("expected_response_logps"), logps.Sums, 1e-3, "response log-probs");
        Assert.Equal(f.Case("expected_response_token_counts").data<long>().ToArray(), logps.Counts.data<long>().ToArray());
    }

    [Fact]
    public void InternLM2PackedWqkvSplitAndDynamicNtkRopeMatch()
    {
        using var f = new TinyModelFixture("internlm2");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var model = f.Policy;
        var ids = f.Case("input_ids");
        var embeds = model.InputEmbeddings(ids, model.VisionTokens(f.Case("pixel_values"), f.Case("image_flags"), torch.CPU));

        // Layer 0's queries, keys and values right after the grouped wqkv split (its input is attention_norm(embeds)).
        var lm = (DecoderForCausalLM)model.LanguageModel;
        var norm = lm.named_modules().Single(m => m.name == "model.layers.0.attention_norm").module as nn.Module<Tensor, Tensor>;
        var (q, k, v) = lm.AttentionOf(0).Split(norm!.forward(embeds));
        TinyModelFixture.AssertClose(f.Case("expected_layer0_query_states"), q, 1e-5, "layer 0 queries");
        TinyModelFixture.AssertClose(f.Case("expected_layer0_key_states"), k, 1e-5, "layer 0 keys");
        TinyModelFixture.AssertClose(f.Case("expected_layer0_value_states"), v, 1e-5, "layer 0 values");

        // RoPE tables with dynamic NTK active (T = 35 > max_position_embeddings 24).
        long t = ids.shape[1];
        var rope = new Microsoft.ML.Preference.Modeling.Layers.RotaryEmbedding(8, 1e6, 24, new("dynamic", 2.0));
        Assert.Equal(2380832.194660822, rope.Base(t), 6);
        Assert.Equal(1e6, rope.Base(24));
        var (cos, sin) = rope.Tables(torch.arange(t).unsqueeze(0), t);
        TinyModelFixture.AssertClose(f.Case("expected_rope_cos"), cos[0], 1e-6, "rope cos");
        TinyModelFixture.AssertClose(f.Case("expected_rope_sin"), sin[0], 1e-6, "rope sin");

        // The two wrong implementations the fixture records must be far from ours.
        var logits = model.Forward(f.Case("pixel_values"), ids, f.Case("attention_mask"), f.Case("image_flags"));
        Assert.True(TinyModelFixture.MaxAbsDiff(logits, f.Case("diagnostic_logits_wqkv_plain_concat")) > 1.0);
        Assert.True(TinyModelFixture.MaxAbsDiff(logits, f.Case("diagnostic_logits_rope_scaling_ignored")) > 0.05);
    }

    [Fact]
    public void PaddingTheBatchLongerChangesInternLM2LogitsAsTheReferenceDoes()
    {
        // cases-t25 row 0 is cases-t24 row 0 padded by one token: T crosses max_position_embeddings, the NTK base changes.
        using var f24 = new TinyModelFixture("internlm2", "cases-t24.safetensors");
        using var f25 = new TinyModelFixture("internlm2", "cases-t25.safetensors");
        using var scope = torch.NewDisposeScope();
        var row24 = f24.Case("expected_logits")[0];
        var row25 = f25.Case("expected_logits")[0, ..24];
        Assert.True(TinyModelFixture.MaxAbsDiff(row25, row24) > 1e-4, "the fixture itself shows the padded-length dependence");
    }

    [Fact]
    public void ImageTokenCountMismatchIsAClearError()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var pixels = f.Case("pixel_values")[..2]; // one tile short
        var e = Assert.Throws<ArgumentException>(() => f.Policy.Forward(pixels, f.Case("input_ids"), f.Case("attention_mask")));
        Assert.Contains("<IMG_CONTEXT>", e.Message);
        Assert.Contains("12", e.Message);
    }

    [Fact]
    public void TilesFlaggedZeroAreDropped()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var pixels = f.Case("pixel_values");
        // Insert a junk tile flagged 0 between the real ones: the output must not change.
        var withJunk = torch.cat([pixels[..1], torch.randn(1, 3, 56, 56), pixels[1..]]);
        var flags = torch.tensor(new long[] { 1, 0, 1, 1 });
        var logits = f.Policy.Forward(withJunk, f.Case("input_ids"), f.Case("attention_mask"), flags);
        TinyModelFixture.AssertClose(f.Case("expected_logits"), logits, 1e-4, "logits with a dropped tile");
    }
}
