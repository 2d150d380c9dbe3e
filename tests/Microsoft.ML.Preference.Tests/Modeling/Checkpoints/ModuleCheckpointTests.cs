using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;
using TorchSharp.Modules;

namespace Microsoft.ML.Preference.Tests.Modeling.Checkpoints;

public class ModuleCheckpointTests
{
    public ModuleCheckpointTests() => TorchRuntime.Initialize();

    /// <summary>Two linear layers and a buffer: state-dict keys fc1.weight, fc1.bias, fc2.weight, fc2.bias, scale.</summary>
    private sealed class TwoLayer : torch.nn.Module<torch.Tensor, torch.Tensor>
    {
#pragma warning disable IDE0044 // RegisterComponents finds submodules by field.
        private Linear fc1;
        private Linear fc2;
#pragma warning restore IDE0044

        public TwoLayer(long seed) : base(nameof(TwoLayer))
        {
            torch.manual_seed(seed);
            fc1 = torch.nn.Linear(4, 3);
            fc2 = torch.nn.Linear(3, 2);
            register_buffer("scale", torch.full(2, seed + 0.5));
            RegisterComponents();
        }

        public override torch.Tensor forward(torch.Tensor x) => fc2.forward(torch.nn.functional.relu(fc1.forward(x))) * get_buffer("scale")!;
    }

    private static Dictionary<string, float[]> Values(torch.nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to(torch.float32).data<float>().ToArray());

    [Fact]
    public void SaveAndLoadIntoAFreshModule()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        using var source = new TwoLayer(seed: 1);
        using var target = new TwoLayer(seed: 2);
        Assert.NotEqual(Values(source)["fc1.weight"], Values(target)["fc1.weight"]);

        var saved = ModuleCheckpoint.Save(source, temp.Path);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "scale"], saved.WeightMap.Select(e => e.Key));

        var result = ModuleCheckpoint.LoadInto(target, temp.Path);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "scale"], result.LoadedKeys);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Equal(Values(source), Values(target));
        // Still parameters that train.
        Assert.All(target.parameters(), p => Assert.True(p.requires_grad));
        var x = torch.randn(5, 4);
        Assert.True(source.forward(x).Equals(target.forward(x)));
    }

    [Fact]
    public void ShardedAndBFloat16SavesLoadIntoFloat32Parameters()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        using var source = new TwoLayer(seed: 3);
        using var target = new TwoLayer(seed: 4);

        var saved = ModuleCheckpoint.Save(source, temp.Path, maxShardBytes: 16, dtype: torch.bfloat16);
        Assert.True(saved.ShardFiles.Count > 1);
        ModuleCheckpoint.LoadInto(target, temp.Path);

        foreach (var (key, tensor) in target.state_dict())
        {
            Assert.Equal(torch.ScalarType.Float32, tensor.dtype);
            var expected = source.state_dict()[key].to(torch.bfloat16).to(torch.float32);
            Assert.True(expected.Equals(tensor), key);
        }
    }

    [Fact]
    public void StrictLoadListsEveryMissingAndUnexpectedKeyAndChangesNothing()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        using var source = new TwoLayer(seed: 5);
        using var target = new TwoLayer(seed: 6);
        var state = source.state_dict();
        // The checkpoint lacks fc2.bias and scale and has two keys the module does not.
        CheckpointWriter.Save(temp.Path,
        [
            ("fc1.weight", state["fc1.weight"]), ("fc1.bias", state["fc1.bias"]), ("fc2.weight", state["fc2.weight"]),
            ("fc3.weight", torch.ones(2, 2)), ("extra", torch.ones(1)),
        ]);
        var before = Values(target);

        var e = Assert.Throws<CheckpointMismatchException>(() => ModuleCheckpoint.LoadInto(target, temp.Path));
        Assert.Equal(["fc2.bias", "scale"], e.MissingKeys);
        Assert.Equal(["extra", "fc3.weight"], e.UnexpectedKeys);
        Assert.Empty(e.ShapeMismatches);
        Assert.Contains(temp.Path, e.Message);
        Assert.Contains("2 missing keys", e.Message);
        Assert.Contains("fc2.bias, scale", e.Message);
        Assert.Contains("2 unexpected keys", e.Message);
        Assert.Contains("extra, fc3.weight", e.Message);
        Assert.Equal(before, Values(target));

        // Not strict: what matches is loaded, the rest is reported.
        var result = ModuleCheckpoint.LoadInto(target, temp.Path, strict: false);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight"], result.LoadedKeys);
        Assert.Equal(["fc2.bias", "scale"], result.MissingKeys);
        Assert.Equal(["extra", "fc3.weight"], result.UnexpectedKeys);
        Assert.Equal(Values(source)["fc2.weight"], Values(target)["fc2.weight"]);
        Assert.Equal(before["fc2.bias"], Values(target)["fc2.bias"]);
    }

    [Fact]
    public void ShapeMismatchesFailEvenWhenNotStrict()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        using var target = new TwoLayer(seed: 7);
        CheckpointWriter.Save(temp.Path, [("fc1.weight", torch.ones(4, 3))]);
        var e = Assert.Throws<CheckpointMismatchException>(() => ModuleCheckpoint.LoadInto(target, temp.Path, strict: false));
        Assert.Equal(["fc1.weight: checkpoint [4, 3] vs module [3, 4]"], e.ShapeMismatches);
        Assert.Contains("shape mismatches", e.Message);
    }

    [Fact]
    public void LongKeyListsAreCutInTheMessageButKeptInFull()
    {
        var missing = Enumerable.Range(0, 30).Select(i => $"layer.{i:D2}.weight").Reverse().ToArray();
        var e = new CheckpointMismatchException("/models/x", missing, []);
        Assert.Equal(missing.Order(StringComparer.Ordinal), e.MissingKeys);
        Assert.Contains("30 missing keys", e.Message);
        Assert.Contains("layer.19.weight, ... and 10 more", e.Message);
        Assert.DoesNotContain("layer.20.weight", e.Message);
    }
}
