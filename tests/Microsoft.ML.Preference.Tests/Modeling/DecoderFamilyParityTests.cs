using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Language;
using Microsoft.ML.Preference.Modeling.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

/// <summary>
/// Phi-3, Llama, InternLM3 and Qwen3 against the independent PyTorch decoders of
/// TestData/tiny-internvl-families/generate.py (logits, log-probs, RoPE tables), and the config round trip of each.
/// The MPO gradients are in <see cref="MpoGradientTests"/>.
/// </summary>
public class DecoderFamilyParityTests
{
    [Theory]
    [MemberData(nameof(TinyModelFixture.GeneratedFamilies), MemberType = typeof(TinyModelFixture))]
    public void LogitsLogProbsAndRopeTablesMatch(string family)
    {
        using var f = new TinyModelFixture(family);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var logits = f.Policy.Forward(f.Case("pixel_values"), f.Case("input_ids"), f.Case("attention_mask"), f.Case("image_flags"));
        TinyModelFixture.AssertClose(f.Case("expected_logits"), logits, 1e-4, "logits");
        var logps = LogProbs.Completion(logits, f.Case("labels"));
        TinyModelFixture.AssertClose(f.Case("expected_token_logps"), logps.TokenLogProbs, 1e-3, "token log-probs");
        TinyModelFixture.AssertClose(f.Case("expected_response_logps"), logps.Sums, 1e-3, "response log-probs");
        Assert.Equal(f.Case("expected_response_token_counts").data<long>().ToArray(), logps.Counts.data<long>().ToArray());

        var l = f.Policy.Config.Language;
        long t = f.Case("input_ids").shape[1];
        var (cos, _) = new RotaryEmbedding(l.HeadDim, l.RopeTheta, l.MaxPositionEmbeddings, l.RopeScaling).Tables(torch.arange(t).unsqueeze(0), t);
        TinyModelFixture.AssertClose(f.Case("expected_rope_cos"), cos[0], 1e-5, "rope cos");
    }

    [Theory]
    [MemberData(nameof(TinyModelFixture.GeneratedFamilies), MemberType = typeof(TinyModelFixture))]
    public void ParameterNamesAreTheCheckpointKeys(string family)
    {
        using var f = new TinyModelFixture(family);
        using var file = SafetensorsFile.Open(Path.Combine(f.Directory, "model.safetensors"));
        var keys = file.Names.OrderBy(k => k, StringComparer.Ordinal);
        var names = f.Policy.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal);
        Assert.Equal(keys, names);
    }

    [Theory]
    [MemberData(nameof(TinyModelFixture.GeneratedFamilies), MemberType = typeof(TinyModelFixture))]
    public void LlmConfigWrittenFromCodeReadsBackTheSame(string family)
    {
        var loaded = InternVLConfig.Load(TinyModelFixture.Folder(family));
        var dir = Directory.CreateTempSubdirectory("family-config-");
        try
        {
            (loaded with { Raw = null }).Save(dir.FullName);
            var again = InternVLConfig.Load(dir.FullName);
            Assert.Equal(loaded.Language with { RopeScaling = null }, again.Language with { RopeScaling = null });
            Assert.Equal(loaded.Language.RopeScaling?.ToJson().ToJsonString(), again.Language.RopeScaling?.ToJson().ToJsonString());
            Assert.Equal(loaded.Language.HeadDim, again.Language.HeadDim);
            var llm = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.FullName, "config.json")))!["llm_config"]!;
            Assert.Equal(loaded.Language.Family.ArchitectureName, llm["architectures"]![0]!.GetValue<string>());
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Theory]
    [InlineData("Qwen3MoeForCausalLM")]
    [InlineData("GptOssForCausalLM")]
    public void MixtureOfExpertsDecodersAreRefusedByName(string architecture)
    {
        var path = Path.Combine(TinyModelFixture.Folder("qwen3"), "config.json");
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        node["llm_config"]!["architectures"] = new JsonArray(architecture);
        var dir = Directory.CreateTempSubdirectory("moe-config-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), node.ToJsonString());
            var e = Assert.Throws<NotSupportedException>(() => InternVLConfig.Load(dir.FullName));
            Assert.Contains(architecture, e.Message);
            Assert.Contains("mixture-of-experts", e.Message);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void Phi3FusedProjectionsAndQwen3QkNormsSplitAsTheReferenceDoes()
    {
        // Phi-3's qkv_proj is [q; k; v]: the queries are its first H·d rows, applied to the same input.
        using var f = new TinyModelFixture("phi3");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var lm = (DecoderForCausalLM)f.Policy.LanguageModel;
        var x = torch.randn(1, 3, 32, generator: torch.Generator.Default);
        var (q, k, v) = lm.AttentionOf(1).Split(x);
        var weights = lm.state_dict();
        var packed = weights["model.layers.1.self_attn.qkv_proj.weight"];
        var expectedQ = nn.functional.linear(x, packed.narrow(0, 0, 32)).view(1, 3, 4, 8).transpose(1, 2);
        var expectedV = nn.functional.linear(x, packed.narrow(0, 48, 16)).view(1, 3, 2, 8).transpose(1, 2);
        TinyModelFixture.AssertClose(expectedQ, q, 1e-6, "phi3 queries");
        TinyModelFixture.AssertClose(expectedV, v, 1e-6, "phi3 values");
        Assert.Equal([1L, 2, 3, 8], k.shape);
    }
}
