using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Tests.Modeling.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

public class InternVLModelFolderTests
{
    [Theory]
    [InlineData("qwen2", 160_000L)]
    [InlineData("internlm2", CheckpointWriter.DefaultMaxShardBytes)]
    public void SaveThenLoadIsBitIdentical(string backbone, long shardBytes)
    {
        using var tmp = new TempFolder();
        using var original = InternVLModelFolder.Load(TinyModelFixture.Folder(backbone));
        var result = InternVLModelFolder.Save(original, tmp.Path, shardBytes);
        Assert.Equal(backbone == "qwen2" ? 2 : 1, result.ShardFiles.Count);

        using var reloaded = InternVLModelFolder.Load(tmp.Path);
        Assert.Equal(original.ImageContextTokenId, reloaded.ImageContextTokenId);
        var before = original.state_dict();
        var after = reloaded.state_dict();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, tensor) in before)
            Assert.True(tensor.bytes.SequenceEqual(after[name].bytes), $"{name} changed in the round trip");

        // The saved config is the original JSON (unknown fields kept).
        var savedConfig = JsonNode.Parse(File.ReadAllText(tmp.File("config.json")))!;
        var originalConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(TinyModelFixture.Folder(backbone), "config.json")))!;
        Assert.True(JsonNode.DeepEquals(originalConfig, savedConfig));
    }

    [Fact]
    public void LoadsIntoBFloat16AndStaysCloseToFloat32()
    {
        using var f = new TinyModelFixture("qwen2");
        using var bf16 = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2"), ScalarType.BFloat16);
        Assert.All(bf16.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var logits = bf16.Forward(f.Case("pixel_values"), f.Case("input_ids"), f.Case("attention_mask"), f.Case("image_flags"));
        Assert.Equal(ScalarType.Float32, logits.dtype);
        double diff = TinyModelFixture.MaxAbsDiff(logits, f.Case("expected_logits"));
        Assert.InRange(diff, 1e-6, 0.1); // bf16 is not float32, but it is the same model
    }

    [Fact]
    public void UnsupportedArchitecturesAreNamed()
    {
        using var tmp = new TempFolder();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TinyModelFixture.Folder("qwen2"), "config.json")))!;
        config["llm_config"]!["architectures"] = new JsonArray("MistralForCausalLM");
        tmp.Write("config.json", config.ToJsonString());
        var e = Assert.Throws<NotSupportedException>(() => InternVLConfig.Load(tmp.Path));
        Assert.Contains("MistralForCausalLM", e.Message);
        Assert.Contains("Qwen2ForCausalLM", e.Message);

        config["llm_config"]!["architectures"] = new JsonArray("Qwen2ForCausalLM");
        config["architectures"] = new JsonArray("LlavaForConditionalGeneration");
        tmp.Write("config.json", config.ToJsonString());
        e = Assert.Throws<NotSupportedException>(() => InternVLConfig.Load(tmp.Path));
        Assert.Contains("LlavaForConditionalGeneration", e.Message);
    }

    [Fact]
    public void MissingConfigFieldNamesTheFileAndField()
    {
        using var tmp = new TempFolder();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TinyModelFixture.Folder("qwen2"), "config.json")))!;
        config["llm_config"]!.AsObject().Remove("hidden_size");
        tmp.Write("config.json", config.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => InternVLConfig.Load(tmp.Path));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("hidden_size", e.Message);
    }

    [Fact]
    public void StrictLoadListsMissingAndUnexpectedKeys()
    {
        using var tmp = new TempFolder();
        using (var model = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2")))
            InternVLModelFolder.Save(model, tmp.Path);
        var config = JsonNode.Parse(File.ReadAllText(tmp.File("config.json")))!;

        // A tied head: the saved lm_head.weight is ignored, as Hugging Face does, and the model loads.
        config["llm_config"]!["tie_word_embeddings"] = true;
        tmp.Write("config.json", config.ToJsonString());
        using (var tied = InternVLModelFolder.Load(tmp.Path))
            Assert.DoesNotContain(tied.named_parameters(), p => p.name.Contains("lm_head", StringComparison.Ordinal));

        // A third layer the checkpoint lacks: its keys are listed as missing.
        config["llm_config"]!["num_hidden_layers"] = 3;
        config["llm_config"]!["tie_word_embeddings"] = false;
        tmp.Write("config.json", config.ToJsonString());
        var e = Assert.Throws<CheckpointMismatchException>(() => InternVLModelFolder.Load(tmp.Path));
        Assert.Contains("language_model.model.layers.2.self_attn.q_proj.weight", e.MissingKeys);
        Assert.Contains("layers.2", e.Message);

        // A checkpoint tensor the module has no parameter for is unexpected.
        config["llm_config"]!["num_hidden_layers"] = 1;
        tmp.Write("config.json", config.ToJsonString());
        e = Assert.Throws<CheckpointMismatchException>(() => InternVLModelFolder.Load(tmp.Path));
        Assert.Contains("language_model.model.layers.1.self_attn.q_proj.weight", e.UnexpectedKeys);
    }

    [Fact]
    public void NonStrictLoadGivesMissingParametersFreshValuesAndEveryParameterRealStorage()
    {
        using var tmp = new TempFolder();
        using var original = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2"));
        InternVLModelFolder.Save(original, tmp.Path);
        var config = JsonNode.Parse(File.ReadAllText(tmp.File("config.json")))!;
        config["llm_config"]!["num_hidden_layers"] = 3; // the checkpoint has 2
        tmp.Write("config.json", config.ToJsonString());

        using var model = InternVLModelFolder.Load(tmp.Path, strict: false);
        var state = model.state_dict();
        Assert.All(model.named_parameters(), p =>
        {
            Assert.Equal(DeviceType.CPU, p.parameter.device_type);
            Assert.True(p.parameter.requires_grad, p.name);
        });
        // What the checkpoint has is loaded bit for bit ...
        foreach (var (name, tensor) in original.state_dict())
            Assert.True(tensor.bytes.SequenceEqual(state[name].bytes), name);
        // ... and the third layer starts as Hugging Face's _init_weights would have it: unit norms, zero biases, N(0, 0.02²).
        const string layer = "language_model.model.layers.2.";
        Assert.True(state[layer + "input_layernorm.weight"].eq(1).all().item<bool>());
        Assert.True(state[layer + "self_attn.q_proj.bias"].eq(0).all().item<bool>());
        var q = state[layer + "self_attn.q_proj.weight"];
        Assert.InRange(q.std().item<float>(), 0.015, 0.025);
        Assert.InRange(q.mean().item<float>(), -0.005, 0.005);
    }
}

public class InternVLModulesTests
{
    [Fact]
    public void PixelShuffleV2MergesTwoByTwoNeighboursRowMajorAndV1DoesNotTransposeBack()
    {
        using var scope = torch.NewDisposeScope();
        // x[0, i, j] = [10 i + j] (one channel) on a 4x4 grid.
        var x = (torch.arange(4).unsqueeze(1) * 10 + torch.arange(4).unsqueeze(0)).to(ScalarType.Float32).reshape(1, 4, 4, 1);
        var v2 = InternVLChatModel.PixelShuffle(x, 0.5, "v2");
        Assert.Equal(new long[] { 1, 2, 2, 4 }, v2.shape);
        // out[i, j] = cat(x[2i, 2j], x[2i, 2j+1], x[2i+1, 2j], x[2i+1, 2j+1])
        Assert.Equal(new float[] { 0, 1, 10, 11 }, v2[0, 0, 0].data<float>().ToArray());
        Assert.Equal(new float[] { 2, 3, 12, 13 }, v2[0, 0, 1].data<float>().ToArray());
        Assert.Equal(new float[] { 20, 21, 30, 31 }, v2[0, 1, 0].data<float>().ToArray());
        var v1 = InternVLChatModel.PixelShuffle(x, 0.5, "v1");
        Assert.Equal(new float[] { 20, 21, 30, 31 }, v1[0, 0, 1].data<float>().ToArray());
    }

    [Fact]
    public void InternViT6BOptionsBuildWithHuggingFaceNames()
    {
        var config = InternVLConfig.Load(TinyModelFixture.Folder("qwen2")) with { };
        var vision = config.Vision with { NormType = "rms_norm", QkNormalization = true, QkvBias = false };
        using var model = new InternVLChatModel(config with { Vision = vision }, 93);
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("vision_model.encoder.layers.0.attn.q_norm.weight", names);
        Assert.Contains("vision_model.encoder.layers.0.attn.k_norm.weight", names);
        Assert.DoesNotContain("vision_model.encoder.layers.0.norm1.bias", names);
        Assert.DoesNotContain("vision_model.encoder.layers.0.attn.qkv.bias", names);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var hidden = model.VisionModel.forward(torch.randn(2, 3, 56, 56));
        Assert.Equal(new long[] { 2, 17, 32 }, hidden.shape);
        Assert.False(hidden.isnan().any().item<bool>());
    }

    [Fact]
    public void PositionEmbeddingIsResampledForAnotherGrid()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // 84px tiles give a 6x6 grid where the checkpoint has 4x4: the patch positions are resampled bicubically.
        var hidden = f.Policy.VisionModel.forward(torch.randn(1, 3, 84, 84));
        Assert.Equal(new long[] { 1, 37, 32 }, hidden.shape);
        Assert.False(hidden.isnan().any().item<bool>());
        // At the native grid the resampling is the identity: the fixture's activations (checked elsewhere) rely on it.
        var native = f.Policy.VisionModel.forward(f.Case("pixel_values"));
        TinyModelFixture.AssertClose(f.Case("expected_vision_last_hidden_state"), native, 1e-4, "native grid");
    }

    [Fact]
    public void SelectLayerPicksAnEarlierHiddenState()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var pixels = f.Case("pixel_values");
        var last = f.Policy.VisionModel.HiddenState(pixels, -1);
        var alsoLast = f.Policy.VisionModel.HiddenState(pixels, 2);
        var first = f.Policy.VisionModel.HiddenState(pixels, 1);
        Assert.Equal(0.0, TinyModelFixture.MaxAbsDiff(last, alsoLast));
        Assert.True(TinyModelFixture.MaxAbsDiff(last, first) > 1e-3);
        Assert.Throws<ArgumentOutOfRangeException>(() => f.Policy.VisionModel.HiddenState(pixels, 3));
    }
}
