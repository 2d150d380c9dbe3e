using Microsoft.ML.Preference.Modeling.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

public class ParameterMaterializerTests
{
    /// <summary>A managed Linear and an RmsNorm (a parameter in a readonly field of our own) under a parent with one of its own.</summary>
    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly Linear proj;
        private readonly RmsNorm norm;
        private readonly Parameter scale;

        public Block() : base(nameof(Block))
        {
            proj = nn.Linear(3, 2, device: ConstructionDevice.Current);
            norm = new RmsNorm(2, 1e-6);
            scale = new Parameter(torch.ones(2, device: ConstructionDevice.Current));
            RegisterComponents();
        }

        public Linear Proj => proj;

        public override Tensor forward(Tensor x) => norm.forward(proj.forward(x)) * scale;
    }

    private static Block MetaBlock()
    {
        using (ConstructionDevice.Use(ConstructionDevice.Meta))
            return new Block();
    }

    private static Tensor ValueOf(string name, Parameter meta) =>
        torch.arange(meta.numel(), dtype: ScalarType.Float32).reshape(meta.shape).mul(0.1).add(name.Length);

    [Fact]
    public void MetaParametersBecomeTheGivenValuesAndTrain()
    {
        using var scope = torch.NewDisposeScope();
        var block = MetaBlock();
        block.Proj.bias!.requires_grad = false;
        var seen = new List<string>();
        ParameterMaterializer.Materialize(block, (name, meta) =>
        {
            seen.Add(name);
            Assert.Equal(DeviceType.META, meta.device_type);
            return ValueOf(name, meta);
        });

        Assert.Equal(["scale", "proj.weight", "proj.bias", "norm.weight"], seen);
        foreach (var (name, parameter) in block.named_parameters())
        {
            Assert.Equal(DeviceType.CPU, parameter.device_type);
            Assert.Equal(ValueOf(name, parameter).data<float>().ToArray(), parameter.data<float>().ToArray());
        }
        // The fields the forward reads are the new parameters: the forward equals one written out by hand.
        Assert.Same(block.Proj.weight, block.named_parameters().Single(p => p.name == "proj.weight").parameter);
        Assert.False(block.Proj.bias!.requires_grad);
        var x = torch.tensor(new float[] { 1, -2, 0.5f }).reshape(1, 3);
        var y = block.forward(x);
        var h = x.matmul(ValueOf("proj.weight", block.Proj.weight).t()) + ValueOf("proj.bias", block.Proj.bias);
        var expected = h * torch.rsqrt(h.pow(2).mean([-1L], keepdim: true) + 1e-6) * ValueOf("norm.weight", block.Proj.bias) * ValueOf("scale", block.Proj.bias);
        Assert.True(torch.allclose(expected, y, rtol: 1e-5, atol: 1e-6));

        y.sum().backward();
        Assert.NotNull(block.Proj.weight.grad);
        Assert.Null(block.Proj.bias.grad);
    }

    [Fact]
    public void AValueOfTheWrongShapeIsRefusedByName()
    {
        using var scope = torch.NewDisposeScope();
        var block = MetaBlock();
        var e = Assert.Throws<InvalidOperationException>(() =>
            ParameterMaterializer.Materialize(block, (name, meta) => name == "proj.weight" ? torch.zeros(3, 2) : ValueOf(name, meta)));
        Assert.Contains("proj.weight", e.Message);
        Assert.Contains("[3, 2]", e.Message);
    }

    [Fact]
    public void ParametersThatAreNotOnTheMetaDeviceAreLeftAlone()
    {
        using var scope = torch.NewDisposeScope();
        var block = new Block();
        var before = block.parameters().ToList();
        ParameterMaterializer.Materialize(block, (_, _) => throw new InvalidOperationException("not called"));
        Assert.Equal(before, block.parameters().ToList());
    }

    [Fact]
    public void ANativeEmbeddingBuiltOnMetaTakesItsFullTableAndItsForwardReadsIt()
    {
        using var scope = torch.NewDisposeScope();
        Embedding embedding;
        using (ConstructionDevice.Use(ConstructionDevice.Meta))
        {
            // Llama-3's table: 4 GiB of float32 if anything were allocated for it.
            using var big = ConstructionDevice.Embedding(128_256, 8_192);
            Assert.Equal(DeviceType.META, big.weight!.device_type);
            Assert.Equal(new long[] { 128_256, 8_192 }, big.weight.shape);
            embedding = ConstructionDevice.Embedding(6, 4);
        }
        Assert.Equal(new long[] { 6, 4 }, embedding.named_parameters().Single().parameter.shape);
        ParameterMaterializer.Materialize(embedding, (name, meta) => ValueOf(name, meta));

        var table = ValueOf("weight", embedding.weight!);
        Assert.Equal(DeviceType.CPU, embedding.named_parameters().Single().parameter.device_type);
        var rows = embedding.forward(torch.tensor(new long[] { 5, 0, 5 }));
        Assert.Equal(torch.stack([table[5], table[0], table[5]]).data<float>().ToArray(), rows.data<float>().ToArray());
    }

    [Fact]
    public void AModuleWhoseParameterNoFieldOrPropertyHoldsIsRefusedByName()
    {
        using var scope = torch.NewDisposeScope();
        var module = new Unreachable();
        var e = Assert.Throws<InvalidOperationException>(() => ParameterMaterializer.Materialize(module, (_, meta) => torch.zeros(meta.shape)));
        Assert.Contains("hidden", e.Message);
    }

    /// <summary>A parameter registered under a name that no field or property of the module has.</summary>
    private sealed class Unreachable : nn.Module
    {
        public Unreachable() : base(nameof(Unreachable)) =>
            register_parameter("hidden", new Parameter(torch.empty(2, device: ConstructionDevice.Meta)));
    }
}
