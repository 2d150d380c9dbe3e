using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling.Lora;

/// <summary>Training only the adapter: gradients, optimiser steps, and a base model that stays bit-identical.</summary>
public class LoraTrainingTests
{
    private static Tensor SftLoss(TinyModelFixture f)
    {
        var logits = f.Policy.Forward(f.Case("pixel_values"), f.Case("input_ids"), f.Case("attention_mask"), f.Case("image_flags"));
        return LogProbs.Completion(logits, f.Case("labels")).Sums.mean().neg();
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("internlm2")]
    public void WithTheBaseFrozenOnlyTheAdapterGetsGradients(string backbone)
    {
        using var f = new TinyModelFixture(backbone);
        using var scope = torch.NewDisposeScope();
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { IncludeVisionEncoder = true, IncludeProjector = true, Seed = 1 });

        // Unfrozen, the base gets gradients too.
        SftLoss(f).backward();
        Assert.Contains(f.Policy.parameters(), p => p.grad is not null);
        f.Policy.zero_grad(set_to_none: true);
        adapter.zero_grad(set_to_none: true);

        Assert.Equal(f.Policy.parameters().Count(), adapter.FreezeBaseModel());
        f.Policy.train();
        SftLoss(f).backward();
        f.Policy.eval();

        Assert.All(f.Policy.parameters(), p => Assert.Null(p.grad));
        Assert.Contains(adapter.Layers, l => adapter.CallCount(l.TargetName) > 0);
        foreach (var layer in adapter.Layers)
        {
            if (adapter.CallCount(layer.TargetName) == 0)
            {
                // A layer the model runs with forward(x) (see LoraAdapter's remarks) cannot learn.
                Assert.Null(layer.A.grad);
                Assert.Null(layer.B.grad);
                continue;
            }
            Assert.NotNull(layer.A.grad); // zero while B = 0: dL/dA = scale · Bᵀ · …
            Assert.NotNull(layer.B.grad);
            Assert.True(layer.B.grad!.abs().max().item<float>() > 0, $"{layer.TargetName}: no gradient reaches lora_B");
        }
    }

    [Fact]
    public void AFewOptimiserStepsChangeTheOutputWhileTheBaseStaysBitIdentical()
    {
        using var f = new TinyModelFixture("qwen2");
        using var scope = torch.NewDisposeScope();
        var original = LoraTestModels.Snapshot(f.Policy);
        var baseLogits = LoraTestModels.Logits(f);
        // The projector's targets: the layers InternVLChatModel runs through Module.call (see LoraAdapter's remarks).
        using var adapter = LoraAdapter.Attach(f.Policy, LoraTestModels.ProjectorOnly(new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0.1, Seed = 3 }));
        adapter.FreezeBaseModel();
        using var optimizer = torch.optim.AdamW(adapter.parameters(), lr: 1e-2);

        var losses = new List<float>();
        f.Policy.train();
        for (int step = 0; step < 6; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = SftLoss(f);
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }
        f.Policy.eval();
        adapter.VerifyTargetsReached();
        Assert.True(losses[^1] < losses[0], $"loss did not go down: {string.Join(", ", losses)}");

        var trained = LoraTestModels.Logits(f);
        Assert.True(TinyModelFixture.MaxAbsDiff(trained, baseLogits) > 1e-4);
        foreach (var (name, parameter) in f.Policy.named_parameters())
            Assert.True(LoraTestModels.BitIdentical(original[name], parameter), $"{name} changed");
        using (adapter.Disable())
            Assert.True(LoraTestModels.BitIdentical(baseLogits, LoraTestModels.Logits(f)), "the disabled adapter is not the base model");
    }
}
