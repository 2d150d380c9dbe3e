using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>The four ways of computing one MPO step that the benchmark compares.</summary>
internal enum TrainStepVariant
{
    /// <summary>Reference forward every step; every row's image encoded (cat([P, P])), as TRL and InternVL do.</summary>
    Plain,
    /// <summary>Each pair's image encoded once for its chosen and rejected rows (policy and reference).</summary>
    SharedImages,
    /// <summary>Reference log-probs computed once before training; the step is the policy alone.</summary>
    PrecomputedReference,
    /// <summary>Both.</summary>
    Both,
}

/// <summary>What one variant measured.</summary>
internal sealed record TrainStepResult(TrainStepVariant Variant, double MedianSeconds, double[] Seconds, int Tokens, long PeakRssBytes, double FinalLoss);

/// <summary>
/// One MPO optimisation step on the benchmark configuration (its batch, loss and optimiser), with the trainer's
/// own pieces: PolicyForward, the frozen reference, PreferenceLoss, clipping and AdamW over every parameter.
/// </summary>
internal static class TrainStepBenchmark
{
    public static TrainStepResult Run(BenchConfig bench, TrainStepVariant variant)
    {
        TorchRuntime.Initialize();
        torch.set_num_threads(bench.Threads);
        torch.manual_seed(0);
        using var policy = new InternVLChatModel(bench.Model, bench.ImageContextId);
        WeightInitializer.Initialize(policy, std: 0.02, seed: 0);
        bool share = variant is TrainStepVariant.SharedImages or TrainStepVariant.Both;
        bool precompute = variant is TrainStepVariant.PrecomputedReference or TrainStepVariant.Both;

        var (pixels, ids, labels) = bench.MakeBatch(seed: 0);
        using var batch = new PreferenceBatch
        {
            RowIndices = Enumerable.Range(0, bench.Pairs).Select(i => (long)i).ToArray(),
            PairTiles = pixels,
            InputIds = ids,
            AttentionMask = torch.ones_like(ids),
            Labels = labels,
            Tokens = bench.TokensPerStep,
        };

        IReferenceLogProbs reference;
        var reference0 = new InternVLChatModel(bench.Model, bench.ImageContextId);
        WeightInitializer.Initialize(reference0, std: 0.02, seed: 0);
        var frozen = new FrozenModelReference(reference0, share, "frozen copy");
        if (precompute)
        {
            using var sums = frozen.Compute(batch);
            var values = sums.data<float>().ToArray();
            var byRow = Enumerable.Range(0, bench.Pairs).ToDictionary(i => (long)i, i => (values[i], values[bench.Pairs + i]));
            frozen.Dispose(); // the point of precomputing: the reference model is gone before training starts
            reference = new PrecomputedReference(byRow, "precomputed");
        }
        else
        {
            reference = frozen;
        }

        using var _ = reference;
        var raw = bench.Raw["loss"]!.AsObject();
        var lossTypes = raw["loss_type"]!.AsArray().Select(x => x!.GetValue<string>()).ToList();
        var weights = raw["loss_weights"]!.AsArray().Select(x => x!.GetValue<double>()).ToList();
        var loss = new PreferenceLoss(PreferenceLossOptions.FromTrl(lossTypes, weights, raw["beta"]!.GetValue<double>()));
        var opt = bench.Raw["optimizer"]!.AsObject();
        var betas = opt["betas"]!.AsArray();
        var parameters = policy.parameters().ToList();
        using var optimizer = torch.optim.AdamW(parameters, opt["lr"]!.GetValue<double>(), betas[0]!.GetValue<double>(),
            betas[1]!.GetValue<double>(), opt["eps"]!.GetValue<double>(), opt["weight_decay"]!.GetValue<double>());
        policy.train();
        double last = double.NaN;
        var (median, all) = Timing.Measure(bench.Warmup, bench.Timed, () =>
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var refSums = reference.Compute(batch); // first, as the trainer does: its activations are gone before the policy's
            var lp = PolicyForward.LogProbs(policy, batch, share);
            int b = bench.Pairs;
            var output = loss.Compute(new PreferenceLossInputs(lp.Sums.narrow(0, 0, b), lp.Sums.narrow(0, b, b),
                refSums.narrow(0, 0, b), refSums.narrow(0, b, b), lp.Counts.narrow(0, 0, b), lp.Counts.narrow(0, b, b)));
            output.Loss.backward();
            torch.nn.utils.clip_grad_norm_(parameters, 1.0);
            optimizer.step();
            last = output.Loss.item<float>();
        });
        return new TrainStepResult(variant, median, all, bench.TokensPerStep, ProcessMemory.PeakResidentBytes(), last);
    }
}
