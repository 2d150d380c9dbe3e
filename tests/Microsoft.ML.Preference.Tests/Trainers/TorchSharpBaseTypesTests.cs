using System.Reflection;
using Microsoft.ML.Data;
using Microsoft.ML.TorchSharp;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>
/// Why MpoTrainer and MpoTransformer do not derive from Microsoft.ML.TorchSharp's base types (0.24.0), read from the
/// shipped binary. A class outside ML.NET that derives from TorchSharpBaseTransformer fails to compile with
/// CS0534 ("does not implement inherited abstract member 'RowToRowTransformerBase.MakeRowMapper(DataViewSchema)'" and
/// '... SaveModel(ModelSaveContext)'), and overriding them fails with CS0122 ("'IRowMapper' is inaccessible") and
/// CS0115: both are private protected. The non-generic TorchSharpBaseTrainer is open, but its Fit must return a
/// TorchSharpBaseTransformer, which no outside class can be. If a release opens these members, this test fails:
/// then MpoTrainer/MpoTransformer can join the base types (docs/model-and-checkpoints.md says the same).
/// </summary>
public sealed class TorchSharpBaseTypesTests
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    private static bool OpenToOtherAssemblies(MethodBase m) => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly;

    [Fact]
    public void TheTransformerBaseCannotBeDerivedOutsideMlNet()
    {
        Assert.True(typeof(TorchSharpBaseTransformer).IsSubclassOf(typeof(RowToRowTransformerBase)));
        foreach (var name in new[] { "MakeRowMapper", "SaveModel" })
        {
            var member = typeof(RowToRowTransformerBase).GetMethod(name, Instance);
            Assert.NotNull(member);
            Assert.True(member!.IsAbstract, name);
            Assert.False(OpenToOtherAssemblies(member), $"RowToRowTransformerBase.{name} is now open: MpoTransformer can derive from TorchSharpBaseTransformer.");
        }
        Assert.DoesNotContain(typeof(TorchSharpBaseTransformer).GetConstructors(Instance), OpenToOtherAssemblies);
    }

    [Fact]
    public void TheOpenTrainerBaseMustReturnTheClosedTransformer()
    {
        var fit = typeof(TorchSharpBaseTrainer).GetMethod(nameof(TorchSharpBaseTrainer.Fit))!;
        Assert.Equal(typeof(TorchSharpBaseTransformer), fit.ReturnType);
        Assert.Contains(typeof(TorchSharpBaseTrainer).GetConstructors(Instance), OpenToOtherAssemblies);
        // The generic base, which carries the training loop, is closed outright.
        Assert.DoesNotContain(typeof(TorchSharpBaseTrainer<,>).GetConstructors(Instance), OpenToOtherAssemblies);
    }
}
