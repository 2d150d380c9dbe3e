using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling.Lora;

/// <summary>Which layers get adapters, and that attaching leaves the base model's parameters and keys alone.</summary>
public class LoraTargetTests
{
    [Theory]
    [InlineData("qwen2")]
    [InlineData("internlm2")]
    public void DefaultTargetsAreTheDecoderAttentionAndMlpProjections(string backbone)
    {
        using var f = new TinyModelFixture(backbone);
        using var adapter = LoraAdapter.Attach(f.Policy);
        Assert.Equal(LoraTestModels.DecoderTargets(backbone).Order(), adapter.TargetNames.Order());
        var expectedList = backbone == "qwen2" ? LoraTargets.Qwen2LanguageModel : LoraTargets.InternLM2LanguageModel;
        Assert.Equal(expectedList, adapter.Options.TargetModules);
        Assert.Equal(1.0, adapter.Scale); // PEFT defaults: r = 8, lora_alpha = 8
    }

    [Fact]
    public void VisionEncoderAndProjectorAreOptIn()
    {
        using var f = new TinyModelFixture("qwen2");
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { IncludeVisionEncoder = true, IncludeProjector = true });
        var expected = LoraTestModels.DecoderTargets("qwen2")
            .Concat(from i in Enumerable.Range(0, 2)
                    from n in new[] { "attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2" }
                    select $"vision_model.encoder.layers.{i}.{n}")
            .Concat(["mlp1.1", "mlp1.3"]);
        Assert.Equal(expected.Order(), adapter.TargetNames.Order());
        Assert.Equal(LoraTargets.Qwen2LanguageModel.Concat(LoraTargets.VisionEncoder).Concat(LoraTargets.Projector), adapter.Options.TargetModules);
    }

    [Fact]
    public void ListEntriesMatchWholeNamesOrDotSuffixesAsPeftDoes()
    {
        Assert.True(LoraTargets.IsMatch("language_model.model.layers.0.self_attn.q_proj", ["q_proj"]));
        Assert.True(LoraTargets.IsMatch("language_model.model.layers.0.self_attn.q_proj", ["self_attn.q_proj"]));
        Assert.True(LoraTargets.IsMatch("mlp1.1", ["mlp1.1"]));
        Assert.False(LoraTargets.IsMatch("language_model.model.layers.0.self_attn.xq_proj", ["q_proj"]));
        Assert.False(LoraTargets.IsMatch("mlp1.11", ["mlp1.1"]));
        Assert.False(LoraTargets.IsMatch("q_proj_extra", ["q_proj"]));
        Assert.True(LoraTargets.IsMatch("a.b.q_proj", @"a\.b\.(q|v)_proj"));
        Assert.False(LoraTargets.IsMatch("x.a.b.q_proj", @"a\.b\.(q|v)_proj")); // fullmatch, not search
        Assert.False(LoraTargets.IsMatch("a.b.q_proj\n", @"a\.b\.q_proj"));
    }

    [Fact]
    public void RegexTargetsSelectByFullMatch()
    {
        using var f = new TinyModelFixture("qwen2");
        using (var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModulesRegex = @"language_model\.model\.layers\.1\.self_attn\.(q|v)_proj" }))
        {
            Assert.Equal(["language_model.model.layers.1.self_attn.q_proj", "language_model.model.layers.1.self_attn.v_proj"], adapter.TargetNames);
            Assert.Null(adapter.Options.TargetModules);
        }
        var e = Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModulesRegex = "q_proj" }));
        Assert.Contains("not found", e.Message);
        Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModulesRegex = "(" }));
    }

    [Fact]
    public void TargetsThatAreNotLinearOrMatchNothingAreRefused()
    {
        using var f = new TinyModelFixture("qwen2");
        var notLinear = Assert.Throws<NotSupportedException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModules = ["mlp"] }));
        Assert.Contains("vision_model.encoder.layers.0.mlp", notLinear.Message); // the first in module order
        Assert.Contains("InternMlp", notLinear.Message);
        var none = Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModules = ["wqkv"] }));
        Assert.Contains("[wqkv]", none.Message);
        // A failed attach leaves nothing behind: the layers can be adapted afterwards.
        using var adapter = LoraAdapter.Attach(f.Policy);
        Assert.Equal(14, adapter.TargetNames.Count);
    }

    [Fact]
    public void InvalidOptionsAreRefused()
    {
        using var f = new TinyModelFixture("qwen2");
        Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { Rank = 0 }));
        Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { Dropout = 1 }));
        Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { Alpha = double.NaN }));
        Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModules = ["q_proj"], TargetModulesRegex = ".*q_proj" }));
        Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModulesRegex = ".*q_proj", IncludeProjector = true }));
        Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { AdapterDType = ScalarType.Int64 }));
        // Without an InternVL model there is no default list.
        Assert.Throws<ArgumentException>(() => LoraAdapter.Attach(f.Policy.LanguageModel, new LoraOptions()));
    }

    [Fact]
    public void TheBaseModelKeepsItsParametersAndKeys()
    {
        using var f = new TinyModelFixture("qwen2");
        var before = f.Policy.named_parameters().ToList();
        var stateKeys = f.Policy.state_dict().Keys.ToList();
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { Rank = 4, IncludeVisionEncoder = true, IncludeProjector = true });

        var after = f.Policy.named_parameters().ToList();
        Assert.Equal(before.Select(p => p.name), after.Select(p => p.name));
        Assert.All(before.Zip(after), pair => Assert.Same(pair.First.parameter, pair.Second.parameter));
        Assert.Equal(stateKeys, f.Policy.state_dict().Keys);
        Assert.DoesNotContain(f.Policy.state_dict().Keys, k => k.Contains("lora", StringComparison.Ordinal));

        // The adapter owns 2 matrices per target, A [r, in] and B [out, r], and nothing of the base model, also once
        // TorchSharp has registered its fields (as it does when a module is put into a parent).
        var holder = new Holder(adapter);
        Assert.Equal(2 * adapter.TargetNames.Count, holder.parameters().Count());
        Assert.Equal(2 * adapter.TargetNames.Count, adapter.parameters().Count());
        Assert.All(adapter.state_dict().Keys, k => Assert.Matches(@"^layers\.\d+\.lora_[AB]\.weight$", k));
        foreach (var layer in adapter.Layers)
        {
            var w = layer.BaseLayer.weight!;
            Assert.Equal(new[] { 4L, w.shape[1] }, layer.A.shape);
            Assert.Equal(new[] { w.shape[0], 4L }, layer.B.shape);
            Assert.Same(LoraTestModels.LinearOf(f.Policy, layer.TargetName), layer.BaseLayer);
        }
        Assert.Equal(new[] { 4L, 128L }, adapter["mlp1.1"].A.shape); // 4 × 32 pixel-shuffled ViT features in
    }

    [Fact]
    public void InitialisationIsPeftsAndSeeded()
    {
        using var f = new TinyModelFixture("qwen2");
        Tensor firstA;
        using (var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { Seed = 7 }))
        {
            foreach (var layer in adapter.Layers)
            {
                double bound = 1 / Math.Sqrt(layer.InFeatures); // kaiming_uniform_(a = √5) on [r, in]
                Assert.True(layer.A.abs().max().item<float>() <= bound);
                Assert.True(layer.A.abs().max().item<float>() > bound / 2);
                Assert.Equal(0f, layer.B.abs().max().item<float>());
                Assert.True(layer.A.requires_grad && layer.B.requires_grad);
            }
            firstA = adapter.Layers[0].A.detach().clone();
        }
        using (var same = LoraAdapter.Attach(f.Policy, new LoraOptions { Seed = 7 }))
            Assert.True(LoraTestModels.BitIdentical(firstA, same.Layers[0].A));
        using (var other = LoraAdapter.Attach(f.Policy, new LoraOptions { Seed = 8, InitLoraWeights = false }))
        {
            Assert.False(LoraTestModels.BitIdentical(firstA, other.Layers[0].A));
            var b = other.Layers[0].B;
            Assert.True(b.abs().max().item<float>() > 0);
            Assert.True(b.abs().max().item<float>() <= 1 / Math.Sqrt(8)); // nn.Linear's default on [out, r]
        }
    }

    [Fact]
    public void ALayerCannotCarryTwoAdaptersUntilTheFirstIsDetached()
    {
        using var f = new TinyModelFixture("qwen2");
        var first = LoraAdapter.Attach(f.Policy);
        var e = Assert.Throws<InvalidOperationException>(() => LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModules = ["o_proj"] }));
        Assert.Contains("o_proj", e.Message);
        first.Detach();
        Assert.False(first.IsAttached);
        using var second = LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModules = ["o_proj"] });
        Assert.Equal(2, second.TargetNames.Count);
        first.Dispose();
    }

    [Fact]
    public void AdapterWeightsAreFloat32OnSixteenBitModels()
    {
        using var model = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2"), ScalarType.BFloat16);
        using var adapter = LoraAdapter.Attach(model, new LoraOptions { IncludeProjector = true });
        Assert.All(adapter.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        using var half = LoraAdapter.Attach(InternVLModelFolder.Load(TinyModelFixture.Folder("internlm2")), new LoraOptions { AdapterDType = ScalarType.Float64 });
        Assert.All(half.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        Assert.Equal(LanguageArchitecture.InternLM2, ((InternVLChatModel)half.Model).Config.Language.Architecture);
        half.Model.Dispose();
    }

    private sealed class Holder : nn.Module
    {
        public Holder(nn.Module child) : base(nameof(Holder)) => register_module("adapter", child);
    }
}
