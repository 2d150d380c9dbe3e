using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Tests.Modeling;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>
/// The recipes against the values in OpenGVLab/InternVL's MPO scripts (typed here from the scripts named in
/// <see cref="MpoRecipe"/>'s doc comments), and the Options defaults against InternVL2's.
/// </summary>
public class MpoRecipeTests
{
    // (recipe, --learning_rate, --max_seq_length) of internvl2_8b_internlm2_7b_dynamic_res_mpo_full.sh,
    // internvl2_5_8b_internlm2_5_7b_dynamic_res_mpo.sh and internvl3_8b_mpo.sh.
    public static TheoryData<MpoRecipe, double, int> Scripts() => new()
    {
        { MpoRecipe.InternVL2, 5e-6, 6144 },
        { MpoRecipe.InternVL2_5, 1e-6, 8192 },
        { MpoRecipe.InternVL3, 2e-7, 12288 },
    };

    [Theory]
    [MemberData(nameof(Scripts))]
    public void ARecipeHasItsScriptsHyperParameters(MpoRecipe recipe, double learningRate, int maxSeqLength)
    {
        var o = MpoTrainer.Options.FromRecipe(recipe, "model");
        Assert.Equal("model", o.ModelPath);
        Assert.Equal((learningRate, maxSeqLength), (o.LearningRate, o.MaxLength));
        // Shared by every generation's script.
        Assert.Equal((false, false, false), (o.FreezeVision, o.FreezeProjector, o.FreezeLanguageModel)); // --freeze_backbone/mlp/llm False
        Assert.Equal(0.1, o.VisionDropPathRate);                                                          // --drop_path_rate 0.1
        Assert.Equal(("bfloat16", true, true), (o.DType, o.Float32MasterWeights, o.GradientCheckpointing)); // --bf16 True --grad_checkpoint True
        Assert.Equal((0.05, 0.03, LearningRateScheduleKind.Cosine), (o.WeightDecay, o.WarmupRatio, o.Schedule));
        Assert.Equal((1, 1, 256), (o.NumberOfEpochs, o.BatchSize, o.GradientAccumulationSteps));           // global batch 256, 1 per device
        // --loss_type sigmoid,bco_pair --sigmoid_loss_weight 0.8 --bco_pair_loss_weight 0.2 --rpo_alpha 1, TRL's beta 0.1.
        Assert.Equal(PreferenceLossOptions.MpoTerms, o.Loss.Terms);
        Assert.Equal(0.1, o.Loss.Beta);
        Assert.Equal(recipe, MpoRecipeNames.TryParse(recipe.ToName(), out var parsed) ? parsed : (MpoRecipe?)null);
    }

    [Fact]
    public void TheDefaultsAreInternVL2sScriptWhereThePaperIsSilent()
    {
        var d = new MpoTrainer.Options();
        var script = MpoTrainer.Options.FromRecipe(MpoRecipe.InternVL2);
        Assert.Equal((script.LearningRate, script.WeightDecay, script.WarmupRatio, script.Schedule, script.MaxLength, script.DType),
            (d.LearningRate, d.WeightDecay, d.WarmupRatio, d.Schedule, d.MaxLength, d.DType));
        Assert.Equal((script.FreezeVision, script.FreezeProjector, script.FreezeLanguageModel, script.VisionDropPathRate, script.GradientCheckpointing, script.Float32MasterWeights),
            (d.FreezeVision, d.FreezeProjector, d.FreezeLanguageModel, d.VisionDropPathRate, d.GradientCheckpointing, d.Float32MasterWeights));
        Assert.Equal(script.Loss.Terms, d.Loss.Terms);
    }

    [Theory]
    [InlineData("internvl2", MpoRecipe.InternVL2)]
    [InlineData("InternVL2.5", MpoRecipe.InternVL2_5)]
    [InlineData("internvl3", MpoRecipe.InternVL3)]
    public void RecipeNamesParseCaseInsensitively(string name, MpoRecipe expected)
    {
        Assert.True(MpoRecipeNames.TryParse(name, out var recipe));
        Assert.Equal(expected, recipe);
        Assert.False(MpoRecipeNames.TryParse("internvl4", out _));
    }

    [Theory]
    [InlineData(nameof(MpoTrainer.Options.VisionDropPathRate))]
    [InlineData(nameof(MpoTrainer.Options.WeightDecay))]
    [InlineData(nameof(MpoTrainer.Options.WarmupSteps))]
    [InlineData(nameof(MpoTrainer.Options.SaveSteps))]
    [InlineData(nameof(MpoTrainer.Options.EvalSteps))]
    public void AnOptionOutOfRangeIsRefusedByName(string option)
    {
        var o = new MpoTrainer.Options { ModelPath = "model" };
        switch (option)
        {
            case nameof(o.VisionDropPathRate): o.VisionDropPathRate = 1; break;
            case nameof(o.WeightDecay): o.WeightDecay = -0.05; break;
            case nameof(o.WarmupSteps): o.WarmupSteps = -1; break;
            case nameof(o.SaveSteps): o.SaveSteps = -5; break;
            case nameof(o.EvalSteps): o.EvalSteps = -1; break;
        }
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new MLContext(1).Preference.Trainers.Mpo(o));
        Assert.Contains("MpoTrainer.Options." + option, e.Message);
    }

    [Fact]
    public void DropPathFollowsInternViTsLinearScheduleAndActsOnlyInTraining()
    {
        using var model = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2"));
        var vision = model.VisionModel;
        int layers = vision.Config.NumHiddenLayers;
        Assert.All(vision.Encoder.DropPathRates, r => Assert.Equal(0, r)); // the fixture's config.json: drop_path_rate 0.0
        vision.Encoder.SetDropPathRate(0.5);
        // torch.linspace(0, rate, layers), as InternVisionEncoder builds dpr.
        Assert.Equal(Enumerable.Range(0, layers).Select(i => 0.5 * i / (layers - 1)), vision.Encoder.DropPathRates);

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var pixels = torch.randn([4, 3, vision.Config.ImageSize, vision.Config.ImageSize], generator: new Generator(1));
        vision.train();
        torch.manual_seed(1);
        var first = vision.forward(pixels);
        var second = vision.forward(pixels);
        Assert.False(torch.allclose(first, second), "training with drop path 0.5 must drop some tiles' branches");
        vision.eval();
        Assert.True(vision.forward(pixels).Equals(vision.forward(pixels)));
        vision.train();
        vision.Encoder.SetDropPathRate(0);
        Assert.True(vision.forward(pixels).Equals(vision.forward(pixels)));
    }
}
