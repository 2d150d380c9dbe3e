using Microsoft.ML.Data;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Tests.Modeling.Checkpoints;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>The trainer end to end on the toy colour task.</summary>
public class MpoTrainerLearningTests
{
    internal static MpoTrainer.Options Fast(ToyPreferenceData toy) => new()
    {
        ModelPath = toy.ModelPath, BatchSize = 4, LearningRate = 2e-3, WarmupRatio = 0, ShowProgress = false, Seed = 3,
        MaxLength = 256, SystemMessage = "You are a helpful assistant.",
        // The defaults before they followed InternVL's MPO script: these tests' thresholds were set with them.
        FreezeVision = true, WeightDecay = 0, DType = "float32", GradientCheckpointing = false, VisionDropPathRate = null,
    };

    [Fact]
    public void MpoRaisesHeldOutRewardAccuracyAndLeavesFrozenWeightsBitIdentical()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(toy.Rows(48, seed: 1));
        var heldOut = ml.Data.LoadFromEnumerable(toy.Rows(24, seed: 2));
        var options = Fast(toy);
        options.NumberOfEpochs = 8;
        options.LearningRate = 3e-3;
        options.EvaluateOnStart = true;
        using var model = ml.Preference.Trainers.Mpo(options).Fit(train, heldOut);

        // At step 0 the policy is the reference: every implicit reward is 0 and TRL's accuracy (strict >) is 0.
        Assert.Equal(0.0, model.TrainingHistory[0]["eval_rewards/accuracies"]);
        var after = model.TrainingHistory[^1]["eval_rewards/accuracies"];
        Assert.True(after >= 0.9, $"held-out reward accuracy after training {after:F2}");
        // How often the policy itself prefers the chosen answer: a coin flip before, learned after.
        var before = model.TrainingHistory[0]["eval_logps/accuracies"];
        Assert.InRange(before, 0.2, 0.8);
        Assert.True(model.TrainingHistory[^1]["eval_logps/accuracies"] >= 0.9);
        Assert.True(model.TrainingHistory[^1]["loss"] < model.TrainingHistory[1]["loss"]);

        // The vision tower is frozen by default: bit-identical to the checkpoint it came from.
        using var original = CheckpointFolder.Open(toy.ModelPath);
        foreach (var (name, p) in model.Model.Model.named_parameters().Where(p => p.name.StartsWith("vision_model.", StringComparison.Ordinal)))
            Assert.True(original.Read(name).bytes.SequenceEqual(p.bytes), $"{name} changed");
        // ... and the language model did train.
        var head = model.Model.Model.named_parameters().Single(p => p.name == "language_model.lm_head.weight").parameter;
        Assert.False(original.Read("language_model.lm_head.weight").bytes.SequenceEqual(head.bytes));
    }

    [Fact]
    public void ReferenceVariantsAndSharedImageEncodingGiveTheSameRun()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(16, seed: 5));
        double[] Losses(Action<MpoTrainer.Options> change)
        {
            var o = Fast(toy);
            o.MaxSteps = 3;
            o.ReferenceCacheDirectory = Path.Combine(toy.Root, "ref-cache");
            change(o);
            using var m = ml.Preference.Trainers.Mpo(o).Fit(data);
            return m.TrainingHistory.Select(h => h["loss"]).ToArray();
        }
        var plain = Losses(o => o.ShareImageEncoding = false);
        var shared = Losses(o => o.ShareImageEncoding = true);
        var precomputed = Losses(o => o.PrecomputeReferenceLogProbs = true);
        var cachedAgain = Losses(o => o.PrecomputeReferenceLogProbs = true); // second run reads the cache file
        var separate = Losses(o => { o.Reference = ReferenceModelKind.SeparateFolder; o.ReferenceModelPath = toy.ModelPath; });
        Assert.Single(Directory.GetFiles(Path.Combine(toy.Root, "ref-cache")));
        foreach (var other in new[] { shared, precomputed, cachedAgain, separate })
            for (int i = 0; i < plain.Length; i++)
                Assert.Equal(plain[i], other[i], 1e-5);
    }

    [Fact]
    public void SftOnlyLossSkipsReferenceAndRejectedRowsButTrainsExactlyAsTheFullPath()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(16, seed: 5));
        (double[] Losses, HashSet<string> Last, Dictionary<string, float[]> Weights) Run(PreferenceLossOptions loss)
        {
            var o = Fast(toy);
            o.MaxSteps = 3;
            o.FreezeVision = false;
            o.Loss = loss;
            using var m = ml.Preference.Trainers.Mpo(o).Fit(data);
            var weights = m.Model.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
            return (m.TrainingHistory.Select(h => h["loss"]).ToArray(), m.TrainingHistory[^1].Values.Keys.ToHashSet(), weights);
        }
        // sft:2 alone takes the chosen-only path; a sigmoid term of weight 0 forces the full one (reference, rejected
        // rows) without changing the loss.
        var fast = Run(PreferenceLossOptions.Single(PreferenceLossType.Sft) with { Terms = [new PreferenceLossTerm(PreferenceLossType.Sft, 2.0)] });
        var full = Run(PreferenceLossOptions.Single(PreferenceLossType.Sft) with
        {
            Terms = [new PreferenceLossTerm(PreferenceLossType.Sft, 2.0), new PreferenceLossTerm(PreferenceLossType.Sigmoid, 0.0)],
        });
        Assert.Equal(3, full.Losses.Length);
        Assert.Equal(3, fast.Losses.Length);
        for (int i = 0; i < full.Losses.Length; i++)
            Assert.Equal(full.Losses[i], fast.Losses[i], 1e-5);
        foreach (var (name, w) in full.Weights)
        {
            double diff = w.Zip(fast.Weights[name], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff < 1e-5, $"{name} differs by {diff}");
        }
        // The chosen-only path logs what it can know, and nothing that needs the rejected rows.
        Assert.Contains("nll_loss", fast.Last);
        Assert.Contains("logps/chosen", fast.Last);
        Assert.DoesNotContain("logps/rejected", fast.Last);
        Assert.DoesNotContain("rewards/accuracies", fast.Last);
        Assert.Contains("rewards/accuracies", full.Last);
    }

    [Fact]
    public void ReferenceSyncWithAnSftOnlyLossIsRefusedByName()
    {
        using var toy = new ToyPreferenceData();
        var o = Fast(toy);
        o.Loss = PreferenceLossOptions.Single(PreferenceLossType.Sft);
        o.ReferenceSyncSteps = 4;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new MLContext(1).Preference.Trainers.Mpo(o));
        Assert.Contains(nameof(MpoTrainer.Options.ReferenceSyncSteps), e.Message);
        Assert.Contains("sft", e.Message);
    }

    [Fact]
    public void EveryLossTypeAndOrpoTrainWithFiniteLosses()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(8, seed: 6));
        foreach (var type in Enum.GetValues<PreferenceLossType>())
        {
            var o = Fast(toy);
            o.MaxSteps = 1;
            o.Loss = PreferenceLossOptions.Single(type, labelSmoothing: type is PreferenceLossType.Robust ? 0.1 : 0);
            using var m = ml.Preference.Trainers.Mpo(o).Fit(data);
            Assert.True(double.IsFinite(m.TrainingHistory[0]["loss"]), $"{type}: {m.TrainingHistory[0]["loss"]}");
        }
        var orpo = Fast(toy);
        orpo.MaxSteps = 2;
        orpo.UseOrpo = true;
        using var orpoModel = ml.Preference.Trainers.Mpo(orpo).Fit(data);
        Assert.All(orpoModel.TrainingHistory, h => Assert.True(double.IsFinite(h["loss"])));
    }

    [Fact]
    public void TrDpoSyncMovesTheReferenceToThePolicy()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(16, seed: 11));
        var o = Fast(toy);
        o.MaxSteps = 3;
        o.ReferenceSyncSteps = 1;
        o.ReferenceSyncMixup = 1.0; // a hard copy: after every step the reference equals the policy
        using var synced = ml.Preference.Trainers.Mpo(o).Fit(data);
        // Each step's rewards compare the policy before its update with the reference synced after the previous
        // step: the same weights, so every reward is exactly 0.
        Assert.All(synced.TrainingHistory, h => Assert.Equal(0.0, h["rewards/margins"]));
        Assert.All(synced.TrainingHistory, h => Assert.Equal(0.0, h["rewards/accuracies"]));

        o.ReferenceSyncSteps = 0;
        using var plain = ml.Preference.Trainers.Mpo(o).Fit(data);
        Assert.NotEqual(0.0, plain.TrainingHistory[^1]["rewards/margins"]);
    }
}
