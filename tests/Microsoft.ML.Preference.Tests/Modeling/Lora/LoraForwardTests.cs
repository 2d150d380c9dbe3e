using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling.Lora;

/// <summary>
/// What the hooks compute: nothing with B = 0, scale · B(A(dropout(x))) otherwise, nothing inside Disable(), and the
/// same as a merged weight. End to end through InternVLChatModel.Forward with the projector's targets (the layers the
/// model runs through Module.call), and layer by layer with the decoder's.
/// </summary>
public class LoraForwardTests
{
    private const string QProj = "language_model.model.layers.0.self_attn.q_proj";

    [Theory]
    [InlineData("qwen2")]
    [InlineData("internlm2")]
    public void AFreshAdapterLeavesTheModelBitIdentical(string backbone)
    {
        using var f = new TinyModelFixture(backbone);
        using var scope = torch.NewDisposeScope();
        var before = LoraTestModels.Logits(f);
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { IncludeVisionEncoder = true, IncludeProjector = true, Alpha = 32 });
        var after = LoraTestModels.Logits(f);
        Assert.True(adapter.CallCount("mlp1.1") > 0);
        Assert.True(LoraTestModels.BitIdentical(before, after), "B = 0 must leave the output unchanged");

        // Layer by layer as well, for every target the model does not run through call().
        var x = torch.randn([2, 3, adapter.Layers[0].InFeatures], generator: new Generator(1));
        var first = adapter.Layers[0].BaseLayer;
        Assert.True(LoraTestModels.BitIdentical(first.forward(x), first.call(x)));
    }

    [Theory]
    [InlineData(false, 1.5)]  // 6 / 4
    [InlineData(true, 3.0)]   // rsLoRA: 6 / √4
    public void TheHookAddsTheScaledLowRankUpdate(bool rsLora, double scale)
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { Rank = 4, Alpha = 6, UseRsLora = rsLora, InitLoraWeights = false, Seed = 2 });
        Assert.Equal(scale, adapter.Scale, 12);
        var layer = adapter[QProj];
        var x = torch.randn([2, 5, layer.InFeatures], generator: new Generator(3));
        using var noGrad = torch.no_grad();
        var expected = layer.BaseLayer.forward(x) + scale * x.matmul(layer.A.t()).matmul(layer.B.t());
        TinyModelFixture.AssertClose(expected, layer.BaseLayer.call(x), 1e-5, "hooked q_proj");
        Assert.Equal(1, adapter.CallCount(QProj));
    }

    [Fact]
    public void TheProjectorAdapterChangesTheWholeModel()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        var before = LoraTestModels.Logits(f);
        using var adapter = LoraAdapter.Attach(f.Policy, LoraTestModels.ProjectorOnly(new LoraOptions { InitLoraWeights = false, Seed = 4 }));
        Assert.Equal(["mlp1.1", "mlp1.3"], adapter.TargetNames);
        Assert.Equal(["mlp1.1", "mlp1.3"], adapter.UnreachedTargets);
        var after = LoraTestModels.Logits(f);
        Assert.Empty(adapter.UnreachedTargets);
        adapter.VerifyTargetsReached();
        Assert.True(TinyModelFixture.MaxAbsDiff(after, before) > 1e-3);
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("internlm2")]
    public void DecoderTargetsChangeTheModelWhereItsLayersRunHooks(string backbone)
    {
        // TorchSharp runs hooks in Module.call only. Whatever the decoder does, an unreached target must leave the
        // output alone and be reported, a reached one must change it, and merging works regardless.
        using var f = new TinyModelFixture(backbone);
        using var scope = torch.NewDisposeScope();
        var before = LoraTestModels.Logits(f);
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { InitLoraWeights = false, Seed = 5 });
        var hooked = LoraTestModels.Logits(f);
        var unreached = adapter.UnreachedTargets;
        if (unreached.Count == adapter.TargetNames.Count)
            Assert.True(LoraTestModels.BitIdentical(before, hooked));
        else
            Assert.True(TinyModelFixture.MaxAbsDiff(hooked, before) > 1e-3);
        if (unreached.Count > 0)
        {
            var e = Assert.Throws<InvalidOperationException>(adapter.VerifyTargetsReached);
            Assert.Contains(unreached[0], e.Message);
            Assert.Contains("Module.call", e.Message);
        }
        else
            adapter.VerifyTargetsReached();

        using (adapter.Disable())
            Assert.True(LoraTestModels.BitIdentical(before, LoraTestModels.Logits(f)));
        adapter.Merge();
        var merged = LoraTestModels.Logits(f);
        Assert.True(TinyModelFixture.MaxAbsDiff(merged, before) > 1e-3);
        if (unreached.Count == 0)
            TinyModelFixture.AssertClose(hooked, merged, 1e-4, "merged vs hooked logits");
        adapter.Unmerge();
    }

    [Fact]
    public void DisableGivesTheBaseModelBitForBitAndRestoresOnExitNestingAndExceptions()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        var baseLogits = LoraTestModels.Logits(f);
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { IncludeProjector = true, InitLoraWeights = false, Seed = 6 });
        var adapted = LoraTestModels.Logits(f);
        Assert.False(LoraTestModels.BitIdentical(baseLogits, adapted));

        using (adapter.Disable())
        {
            Assert.False(adapter.IsEnabled);
            Assert.True(LoraTestModels.BitIdentical(baseLogits, LoraTestModels.Logits(f)));
            using (adapter.Disable())
                Assert.True(LoraTestModels.BitIdentical(baseLogits, LoraTestModels.Logits(f)));
            Assert.False(adapter.IsEnabled); // the outer scope is still open
            Assert.True(LoraTestModels.BitIdentical(baseLogits, LoraTestModels.Logits(f)));
        }
        Assert.True(adapter.IsEnabled);
        Assert.True(LoraTestModels.BitIdentical(adapted, LoraTestModels.Logits(f)));

        var thrown = Assert.Throws<InvalidOperationException>(void () =>
        {
            using (adapter.Disable())
            using (adapter.Disable())
                throw new InvalidOperationException("inside");
        });
        Assert.Equal("inside", thrown.Message);
        Assert.True(adapter.IsEnabled);

        // Scopes close in any order, and closing one twice counts once.
        var outer = adapter.Disable();
        var inner = adapter.Disable();
        outer.Dispose();
        outer.Dispose();
        Assert.False(adapter.IsEnabled);
        inner.Dispose();
        Assert.True(adapter.IsEnabled);
        Assert.True(LoraTestModels.BitIdentical(adapted, LoraTestModels.Logits(f)));

        // Gradients flow in a disabled forward too, to the base only (a reference pass would use no_grad anyway).
        using (adapter.Disable())
        {
            f.Policy.Forward(f.Case("pixel_values"), f.Case("input_ids"), f.Case("attention_mask"), f.Case("image_flags")).sum().backward();
            Assert.All(adapter.parameters(), p => Assert.Null(p.grad));
        }
    }

    [Fact]
    public void MergedOutputEqualsHookedOutputAndUnmergeRestoresTheWeights()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        var original = LoraTestModels.Snapshot(f.Policy);
        var baseLogits = LoraTestModels.Logits(f);
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions
        {
            Rank = 4, Alpha = 16, IncludeProjector = true, IncludeVisionEncoder = true, InitLoraWeights = false, Seed = 9,
        });

        // Layer level, for a decoder target: forward with the merged weight = call with the hook.
        var q = adapter[QProj].BaseLayer;
        var x = torch.randn([2, 4, q.in_features], generator: new Generator(10));
        Tensor hookedQ;
        using (torch.no_grad())
            hookedQ = q.call(x);

        adapter.Merge();
        Assert.True(adapter.IsMerged);
        Assert.Throws<InvalidOperationException>(() => adapter.Disable());
        adapter.Merge(); // a no-op
        using (torch.no_grad())
        {
            TinyModelFixture.AssertClose(hookedQ, q.forward(x), 1e-5, "merged q_proj");
            TinyModelFixture.AssertClose(hookedQ, q.call(x), 1e-5, "merged q_proj with its (idle) hook");
        }
        foreach (var (name, parameter) in f.Policy.named_parameters())
        {
            bool targeted = name.EndsWith(".weight", StringComparison.Ordinal) && adapter.TargetNames.Contains(name[..^".weight".Length]);
            Assert.True(targeted != LoraTestModels.BitIdentical(original[name], parameter), $"{name}: merged = {targeted}");
            if (targeted)
                TinyModelFixture.AssertClose(original[name] + adapter[name[..^".weight".Length]].DeltaWeightForTest(adapter.Scale), parameter, 1e-6, name);
        }
        var mergedLogits = LoraTestModels.Logits(f);
        Assert.True(TinyModelFixture.MaxAbsDiff(mergedLogits, baseLogits) > 1e-3);

        adapter.Unmerge();
        Assert.False(adapter.IsMerged);
        foreach (var (name, parameter) in f.Policy.named_parameters())
            TinyModelFixture.AssertClose(original[name], parameter, 1e-6, $"{name} after unmerge");
        using (adapter.Disable())
            TinyModelFixture.AssertClose(baseLogits, LoraTestModels.Logits(f), 1e-5, "base logits after unmerge");
    }

    [Fact]
    public void MergingMatchesTheHookedModelEndToEnd()
    {
        using var f = new TinyModelFixture("internlm2");
        using var scope = torch.NewDisposeScope();
        using var adapter = LoraAdapter.Attach(f.Policy, LoraTestModels.ProjectorOnly(new LoraOptions { Rank = 2, Alpha = 4, InitLoraWeights = false, Seed = 11 }));
        var hooked = LoraTestModels.Logits(f);
        using (adapter.Disable())
            Assert.Throws<InvalidOperationException>(adapter.Merge);
        adapter.Merge();
        var merged = LoraTestModels.Logits(f);
        Assert.Equal(2, adapter.CallCount("mlp1.3")); // the hook ran, and added nothing while merged
        TinyModelFixture.AssertClose(hooked, merged, 1e-4, "merged vs hooked logits");
        adapter.Unmerge();
        TinyModelFixture.AssertClose(hooked, LoraTestModels.Logits(f), 1e-5, "hooked logits after unmerge");
    }

    [Fact]
    public void DropoutAppliesOnlyInTrainingMode()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { Dropout = 0.5, InitLoraWeights = false, Seed = 12 });
        var layer = adapter[QProj];
        var x = torch.randn([4, 6, layer.InFeatures], generator: new Generator(13));
        using var noGrad = torch.no_grad();
        var baseOut = layer.BaseLayer.forward(x);
        var noDropout = baseOut + adapter.Scale * x.matmul(layer.A.t()).matmul(layer.B.t());

        f.Policy.eval();
        TinyModelFixture.AssertClose(noDropout, layer.BaseLayer.call(x), 1e-5, "eval: no dropout");
        f.Policy.train();
        try
        {
            var first = layer.BaseLayer.call(x);
            var second = layer.BaseLayer.call(x);
            Assert.True(TinyModelFixture.MaxAbsDiff(first, noDropout) > 1e-3);
            Assert.True(TinyModelFixture.MaxAbsDiff(first, second) > 1e-3);
            // Only the adapter's input is dropped, never the base layer's output.
            using (adapter.Disable())
                Assert.True(LoraTestModels.BitIdentical(baseOut, layer.BaseLayer.call(x)));
        }
        finally
        {
            f.Policy.eval();
        }
    }

    [Fact]
    public void HooksDoNotLeakTensors()
    {
        using var f = new TinyModelFixture("qwen2");
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { IncludeProjector = true, InitLoraWeights = false, Seed = 14, Dropout = 0.1 });
        var q = adapter[QProj].BaseLayer;
        using (torch.NewDisposeScope())
            LoraTestModels.Logits(f); // warm-up: lazily created state, if any

        var stats = DisposeScopeManager.Statistics;
        long Live()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return stats.ThreadTotalLiveCount;
        }
        long before = Live();
        for (int i = 0; i < 3; i++)
        {
            using var scope = torch.NewDisposeScope();
            LoraTestModels.Logits(f);
            var x = torch.randn(2, 3, q.in_features);
            q.call(x).sum().backward();
            using (adapter.Disable())
                q.call(x);
        }
        adapter.zero_grad();
        f.Policy.zero_grad();
        Assert.Equal(before, Live());

        // Per call, the hook's temporaries die at once instead of piling up in the caller's scope: a hooked call
        // leaves exactly two live tensors (the base output and the sum), in eval and in train mode (dropout).
        foreach (bool training in new[] { false, true })
        {
            f.Policy.train(training);
            using var scope = torch.NewDisposeScope();
            var x = torch.randn(2, 3, q.in_features);
            long start = stats.ThreadTotalLiveCount;
            q.call(x);
            Assert.Equal(start + 2, stats.ThreadTotalLiveCount);
        }
        f.Policy.eval();
    }

    [Fact]
    public void SixteenBitLayersComputeTheUpdateInFloat32AndCastBack()
    {
        using var model = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2"), ScalarType.BFloat16);
        using var scope = torch.NewDisposeScope();
        using var adapter = LoraAdapter.Attach(model, new LoraOptions { InitLoraWeights = false, Seed = 15 });
        var layer = adapter[QProj];
        var x = torch.randn([2, 3, layer.InFeatures], generator: new Generator(16)).to(ScalarType.BFloat16);
        using var noGrad = torch.no_grad();
        var y = layer.BaseLayer.call(x);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        var expected = (layer.BaseLayer.forward(x).to(ScalarType.Float32) + adapter.Scale * x.to(ScalarType.Float32).matmul(layer.A.t()).matmul(layer.B.t()))
            .to(ScalarType.BFloat16);
        TinyModelFixture.AssertClose(expected, y, 2e-2, "bf16 hooked q_proj");

        var before = layer.BaseLayer.weight!.detach().clone();
        adapter.Merge();
        Assert.Equal(ScalarType.BFloat16, layer.BaseLayer.weight!.dtype);
        TinyModelFixture.AssertClose(before.to(ScalarType.Float32) + layer.DeltaWeightForTest(adapter.Scale), layer.BaseLayer.weight!, 1e-2, "bf16 merged weight");
        adapter.Unmerge();
        TinyModelFixture.AssertClose(before, layer.BaseLayer.weight!, 1e-2, "bf16 unmerged weight");
    }
}

internal static class LoraLayerTestExtensions
{
    /// <summary>scale · B @ A, computed independently of the adapter's own merge code.</summary>
    public static Tensor DeltaWeightForTest(this LoraLayer layer, double scale)
    {
        using var noGrad = torch.no_grad();
        return layer.B.detach().matmul(layer.A.detach()) * scale;
    }
}
