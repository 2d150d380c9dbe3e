using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Trainers.Losses;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>Everything one training run needs, assembled by <see cref="MpoTrainer"/>.</summary>
internal sealed class TrainingSetup
{
    public required VisionLanguageModel Policy { get; init; }
    public required IReadOnlyList<Parameter> Trainable { get; init; }
    public required IReferenceLogProbs? Reference { get; init; }
    public required PreferenceLoss Loss { get; init; }
    /// <summary>The training rows, read on demand by the data loader.</summary>
    public required PreferenceRowSource Rows { get; init; }
    public required IReadOnlyList<PreparedRow> ValidationRows { get; init; }
    public required PreferenceRowPreparer Preparer { get; init; }
    public required MpoTrainer.Options Options { get; init; }
    public required int Seed { get; init; }
    public required string DataFingerprint { get; init; }
    public required Action<string, TrainingMetrics?> Report { get; init; }
    public required Action<string> WriteCheckpointContents { get; init; }
    /// <summary>Rows skipped and cut as the input streams (seeded from the checkpoint on resume).</summary>
    public required InputAccounting Input { get; init; }
    public string? ResumeCheckpoint { get; init; }
    /// <summary>Set whenever the prefetch queue is full (a test hook).</summary>
    public ManualResetEventSlim? PrefetchFullSignal { get; init; }
}

/// <summary>
/// The optimisation loop: micro-batches of pairs in a seeded per-epoch order, gradient accumulation, clipping,
/// AdamW (on float32 master weights under bf16) with a warm-up schedule, TR-DPO reference syncs, evaluation, metrics under TRL's names, checkpoints
/// (periodic, final and on cancellation) and exact resumption. The data position is a pure function of the
/// step, so a checkpoint needs no cursor. Micro-batches come from a <see cref="PrefetchingBatchLoader"/>: rows are
/// checked, tokenised and tiled on background workers as the run reaches them, and a bad row is met (skipped or
/// failed) in the step that holds it.
/// </summary>
internal sealed class PreferenceTrainingLoop
{
    private readonly TrainingSetup _s;
    private readonly MpoTrainer.Options _o;
    private readonly int _microBatchesPerEpoch;
    private readonly EpochOrder _order;

    public PreferenceTrainingLoop(TrainingSetup setup)
    {
        _s = setup;
        _o = setup.Options;
        _order = new EpochOrder(setup.Rows.Count, setup.Seed, _o.BatchSize, _o.GradientAccumulationSteps,
            setup.Rows.ApproximateLength, _o.GroupByLength, _o.LengthGroupedSteps);
        _microBatchesPerEpoch = _order.MicroBatchesPerEpoch;
        int stepsPerEpoch = Math.Max(1, (_microBatchesPerEpoch + _o.GradientAccumulationSteps - 1) / _o.GradientAccumulationSteps);
        TotalSteps = _o.MaxSteps > 0 ? _o.MaxSteps : stepsPerEpoch * _o.NumberOfEpochs;
        StepsPerEpoch = stepsPerEpoch;
    }

    public int TotalSteps { get; }

    public int StepsPerEpoch { get; }

    public string? LastCheckpoint { get; private set; }

    private DivergenceWatch _watch = null!;

    public IReadOnlyList<TrainingMetrics> History => _history;

    private readonly List<TrainingMetrics> _history = new();

    public void Run(Action<int, int>? stepProgress)
    {
        var policy = _s.Policy.Model;
        using var optimizer = ITrainingOptimizer.Create(_s.Trainable, _o);
        var schedule = new LearningRateSchedule(_o.LearningRate,
            _o.WarmupSteps ?? (int)Math.Ceiling(_o.WarmupRatio * TotalSteps), TotalSteps, _o.Schedule);
        int start = 0;
        _watch = new DivergenceWatch(_o.DivergenceFactor, _s.ResumeCheckpoint);
        if (_s.ResumeCheckpoint is { } resume)
        {
            var state = TrainingCheckpoint.ReadState(resume);
            if (state.DataFingerprint != _s.DataFingerprint)
                throw new InvalidOperationException($"{resume} was written for other data (fingerprint {state.DataFingerprint[..12]}…); resume with the same rows.");
            TrainingCheckpoint.RestoreOptimizerAndRng(resume, optimizer);
            if (state.Bco is not null)
                _s.Loss.RunningMoments.Restore(state.Bco);
            start = state.Step;
            LastCheckpoint = resume;
            if (start >= TotalSteps)
            {
                // A finished run (or a retry after the last checkpoint): nothing to do, and nothing to write again.
                _s.Report($"{resume} is the end of the run (step {start} of {TotalSteps}): training had already finished.", null);
                return;
            }
            _s.Report($"Resumed from {resume} at step {start} of {TotalSteps}.", null);
        }
        else
        {
            torch.manual_seed(_s.Seed);
        }

        policy.train();
        if (_o.EvaluateOnStart && start == 0 && _s.ValidationRows.Count > 0)
        {
            var before = new TrainingMetrics(0, 0);
            Evaluate(before);
            _history.Add(before);
            _s.Report("Before training: " + string.Join(", ", before.Values.Select(kv => $"{kv.Key} {kv.Value:F4}")), before);
        }
        int accumulation = _o.GradientAccumulationSteps;
        using var loader = new PrefetchingBatchLoader(_s.Rows, _s.Preparer, _order, start * accumulation, TotalSteps * accumulation,
            _o.DataLoaderWorkers, _o.DataLoaderWorkers * _o.DataLoaderPrefetchFactor, _s.PrefetchFullSignal);
        for (int step = start; step < TotalSteps; step++)
        {
            if (_o.CancellationToken.IsCancellationRequested)
            {
                var saved = Save(step, optimizer);
                throw new TrainingCanceledException(step, saved, _o.CancellationToken);
            }
            StepProfile.Mark();
            var metrics = Step(step, optimizer, schedule.RateAt(step), loader);
            _history.Add(metrics);
            if (_watch.Observe(step + 1, metrics["loss"], metrics["grad_norm"]) is { } warning)
                _s.Report(warning, null);
            if (_o.ReferenceSyncSteps > 0 && (step + 1) % _o.ReferenceSyncSteps == 0 && _s.Reference is FrozenModelReference frozen)
                frozen.SyncFrom(policy, _o.ReferenceSyncMixup);
            bool last = step + 1 == TotalSteps;
            if (_s.ValidationRows.Count > 0 && (last || (_o.EvalSteps > 0 && (step + 1) % _o.EvalSteps == 0)))
                Evaluate(metrics);
            _s.Report(metrics.Summary(), metrics);
            stepProgress?.Invoke(step + 1, TotalSteps);
            StepProfile.Lap("report and progress");
            if (_o.OutputDirectory is not null && !last && _o.SaveSteps > 0 && (step + 1) % _o.SaveSteps == 0)
                Save(step + 1, optimizer);
        }
        if (_o.OutputDirectory is not null)
            Save(TotalSteps, optimizer);
    }

    private TrainingMetrics Step(int step, ITrainingOptimizer optimizer, double learningRate, PrefetchingBatchLoader loader)
    {
        optimizer.ZeroGrad();
        var clock = Stopwatch.StartNew();
        var sums = new MetricSums();
        long tokens = 0;
        var loaded = new List<LoadedMicroBatch>(_o.GradientAccumulationSteps);
        try
        {
            // The whole step's data first: a bad row under Fail then stops the run at a clean step boundary.
            for (int a = 0; a < _o.GradientAccumulationSteps; a++)
                loaded.Add(loader.Take(step * _o.GradientAccumulationSteps + a));
            double waited = clock.Elapsed.TotalSeconds;
            foreach (var micro in loaded)
                micro.Failure?.Throw();
            // Under Fail a bad row stops the run before it is counted: it was not skipped.
            if (_o.BadRows == BadRowPolicy.Fail && loaded.SelectMany(m => m.BadRows).FirstOrDefault() is { } bad)
            {
                if (step > 0)
                    Save(step, optimizer);
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(bad);
            }
            foreach (var micro in loaded)
                _s.Input.Record(micro, micro.Index < _microBatchesPerEpoch, message => _s.Report(message, null));
            StepProfile.Lap("batch (rows, images, tensors)");
            int usable = loaded.Count(m => m.Rows.Count > 0);
            if (usable == 0)
            {
                _s.Report($"Step {step + 1}: every row of this step was skipped; no update.", null);
                var empty = new TrainingMetrics(step + 1, (double)(step + 1) / StepsPerEpoch);
                AddDataMetrics(empty, waited, clock.Elapsed.TotalSeconds, loader);
                empty.Set("learning_rate", learningRate);
                return empty;
            }
            foreach (var micro in loaded.Where(m => m.Rows.Count > 0))
            {
                using var scope = torch.NewDisposeScope();
                using var batch = PreferenceBatch.Create(micro.Rows, micro.Tiles, _s.Policy.Prompts.Encoder.PadId, _s.Policy.Device);
                tokens += batch.Tokens;
                var loss = Forward(batch, sums, step: step + 1);
                double value = loss.item<float>();
                if (!double.IsFinite(value))
                    throw Diverged(step + 1, "the loss", batch.RowIndices);
                StepProfile.Lap("loss and metrics");
                // Averaged over the micro-batches that hold rows (all of them, unless a whole one was skipped).
                (loss / usable).backward();
                StepProfile.Lap("backward");
                optimizer.AfterBackward();
            }
            double gradNorm = optimizer.ClipGradNorm(_o.MaxGradNorm > 0 ? _o.MaxGradNorm : 1e30);
            StepProfile.Lap("gradient clipping");
            if (!double.IsFinite(gradNorm))
            {
                optimizer.ZeroGrad();
                throw Diverged(step + 1, "the gradient norm", []);
            }
            optimizer.Step(learningRate);
            StepProfile.Lap("optimizer step");
            double seconds = clock.Elapsed.TotalSeconds;

            var metrics = sums.ToMetrics(step + 1, (double)(step + 1) / StepsPerEpoch, prefix: "");
            metrics.Set("grad_norm", gradNorm);
            metrics.Set("learning_rate", learningRate);
            metrics.Set("tokens_per_second", tokens / seconds);
            metrics.Set("step_seconds", seconds);
            metrics.Set("peak_rss_gib", Runtime.ProcessMemory.PeakResidentBytes() / (1024.0 * 1024 * 1024));
            AddDataMetrics(metrics, waited, seconds, loader);
            StepProfile.Lap("report and progress");
            return metrics;
        }
        finally
        {
            foreach (var micro in loaded)
                micro.Dispose();
        }
    }

    /// <summary>How long the step waited for its data (the input side falling behind shows here) and the skip count so far.</summary>
    private void AddDataMetrics(TrainingMetrics metrics, double waited, double seconds, PrefetchingBatchLoader loader)
    {
        metrics.Set("data/wait_seconds", waited);
        metrics.Set("data/wait_fraction", seconds > 0 ? waited / seconds : 0);
        metrics.Set("data/prefetched", loader.Buffered);
        metrics.Set("data/skipped_rows", _s.Input.SkippedTotal);
    }

    /// <summary>One micro-batch's loss; its figures are added to <paramref name="sums"/>.</summary>
    private Tensor Forward(PreferenceBatch batch, MetricSums sums, PreferenceLoss? lossOverride = null, int step = 0)
    {
        if (_s.Reference is null && !_o.UseOrpo)
            return ForwardSftOnly(batch, sums, lossOverride ?? _s.Loss, step);
        // The reference first: its no-grad activations are freed before the policy's (kept for backward) pile up,
        // so the two never add to the peak.
        var reference = _o.UseOrpo ? null : _s.Reference!.Compute(batch);
        StepProfile.Lap("reference log-probs");
        var (policyLp, logitSums) = PolicyForward.Run(_s.Policy.Model, batch, _o.ShareImageEncoding);
        StepProfile.Lap("forward: log-probs");
        // Checked before any loss state (the BCO running mean) can take the bad values in.
        if (!policyLp.Sums.isfinite().all().item<bool>())
            throw Diverged(step, "the policy log-probs", batch.RowIndices);
        int b = batch.Pairs;
        var pc = policyLp.Sums.narrow(0, 0, b);
        var pr = policyLp.Sums.narrow(0, b, b);
        var cc = policyLp.Counts.narrow(0, 0, b);
        var rc = policyLp.Counts.narrow(0, b, b);
        long vocab = _s.Policy.Model.Config.Language.VocabSize;
        sums.Add("logits/chosen", logitSums.narrow(0, 0, b).sum().item<float>() / (cc.sum().item<long>() * (double)vocab), 1);
        sums.Add("logits/rejected", logitSums.narrow(0, b, b).sum().item<float>() / (rc.sum().item<long>() * (double)vocab), 1);
        sums.Add("logps/chosen", pc.mean().item<float>(), 1);
        sums.Add("logps/rejected", pr.mean().item<float>(), 1);
        // Not a TRL metric: how often the policy itself prefers the chosen response. Unlike rewards/accuracies it is
        // meaningful at step 0, where the policy equals the reference and every reward is exactly 0.
        sums.Add("logps/accuracies", (pc > pr).to(ScalarType.Float32).mean().item<float>(), 1);
        // The SFT / NLL term: a token mean over all chosen completion tokens of the batch.
        var nll = -pc.sum() / cc.sum().to(pc.dtype);
        sums.Add("nll_loss", nll.item<float>(), 1);

        if (_o.UseOrpo)
        {
            var avg = policyLp.Averages();
            var orpo = OrpoLoss.Compute(avg.narrow(0, 0, b), avg.narrow(0, b, b), nll, _s.Loss.Options.Beta);
            sums.Add("loss", orpo.Loss.item<float>(), 1);
            sums.Add("log_odds_ratio", orpo.MeanLosses.item<float>(), 1);
            AddRewards(sums, orpo.ChosenRewards, orpo.RejectedRewards);
            return orpo.Loss;
        }

        var loss = lossOverride ?? _s.Loss;
        var output = loss.Compute(new PreferenceLossInputs(pc, pr, reference!.narrow(0, 0, b), reference.narrow(0, b, b), cc, rc));
        sums.Add("loss", output.Loss.item<float>(), 1);
        foreach (var term in output.Terms)
            sums.Add($"losses/{term.Term.Type.ToTrlName()}", term.Mean.item<float>(), 1);
        if (output.BcoDelta is double delta)
            sums.Add("bco_delta", delta, 1);
        AddRewards(sums, output.WeightedChosenRewards, output.WeightedRejectedRewards);
        return output.Loss;
    }

    /// <summary>
    /// A loss of <c>sft</c> terms alone: the chosen rows only, no reference. Σ weights × the token-mean NLL, which is
    /// what the full path computes for such a loss; the metrics that need the rejected rows are not logged.
    /// </summary>
    private Tensor ForwardSftOnly(PreferenceBatch batch, MetricSums sums, PreferenceLoss loss, int step)
    {
        var (lp, logitSums) = PolicyForward.Run(_s.Policy.Model, batch, _o.ShareImageEncoding, chosenOnly: true);
        StepProfile.Lap("forward: log-probs");
        if (!lp.Sums.isfinite().all().item<bool>())
            throw Diverged(step, "the policy log-probs", batch.RowIndices);
        long vocab = _s.Policy.Model.Config.Language.VocabSize;
        sums.Add("logits/chosen", logitSums.sum().item<float>() / (lp.Counts.sum().item<long>() * (double)vocab), 1);
        sums.Add("logps/chosen", lp.Sums.mean().item<float>(), 1);
        var nll = -lp.Sums.sum() / lp.Counts.sum().to(lp.Sums.dtype);
        sums.Add("nll_loss", nll.item<float>(), 1);
        sums.Add("losses/sft", nll.item<float>(), 1);
        var total = nll * loss.Options.TotalWeight;
        sums.Add("loss", total.item<float>(), 1);
        return total;
    }

    private static void AddRewards(MetricSums sums, Tensor chosen, Tensor rejected)
    {
        sums.Add("rewards/chosen", chosen.mean().item<float>(), 1);
        sums.Add("rewards/rejected", rejected.mean().item<float>(), 1);
        sums.Add("rewards/accuracies", (chosen > rejected).to(ScalarType.Float32).mean().item<float>(), 1);
        sums.Add("rewards/margins", (chosen - rejected).mean().item<float>(), 1);
    }

    private void Evaluate(TrainingMetrics into)
    {
        var policy = _s.Policy.Model;
        bool wasTraining = policy.training;
        policy.eval();
        try
        {
            // A copy of the BCO state: evaluation must not move the training run's δ.
            var evalLoss = new PreferenceLoss(_s.Loss.Options, new BcoRunningMoments(_s.Loss.RunningMoments.Mode,
                _s.Loss.RunningMoments.EmaDecay, _s.Loss.RunningMoments.GetState()));
            var sums = new MetricSums();
            using var noGrad = torch.no_grad();
            for (int start = 0; start < _s.ValidationRows.Count; start += _o.BatchSize)
            {
                using var scope = torch.NewDisposeScope();
                using var batch = MakeBatch(_s.ValidationRows.Skip(start).Take(_o.BatchSize).ToList());
                Forward(batch, sums, evalLoss);
            }
            foreach (var (name, value) in sums.Means())
                into.Set("eval_" + name, value);
        }
        finally
        {
            policy.train(wasTraining);
        }
    }

    private PreferenceBatch MakeBatch(IReadOnlyList<PreparedRow> rows) =>
        PreferenceBatch.Create(rows, _s.Preparer, _s.Policy.Prompts.Encoder.PadId, _s.Policy.Device);

    private string? Save(int step, ITrainingOptimizer optimizer)
    {
        if (_o.OutputDirectory is null)
            return null;
        var state = new TrainerState
        {
            Step = step,
            TotalSteps = TotalSteps,
            Seed = _s.Seed,
            DataFingerprint = _s.DataFingerprint,
            Rows = _s.Rows.Count,
            Bco = _s.Loss.RunningMoments.GetState(),
            HasAdapter = _o.Lora is not null,
            HasReference = _o.ReferenceSyncSteps > 0,
            SkippedRows = _s.Input.Skipped.ToDictionary(kv => kv.Key, kv => kv.Value),
            LastMetrics = _history.Count == 0 ? new() : _history[^1].Values.ToDictionary(kv => kv.Key, kv => kv.Value),
        };
        LastCheckpoint = TrainingCheckpoint.Save(_o.OutputDirectory, state, optimizer, _s.WriteCheckpointContents);
        _watch.Saved(LastCheckpoint, step);
        _s.Report($"Checkpoint written: {LastCheckpoint}", null);
        return LastCheckpoint;
    }

    /// <summary>The error for a non-finite value: it names the last checkpoint written before training left its normal range.</summary>
    private NonFiniteLossException Diverged(int step, string what, IReadOnlyList<long> rows) =>
        new(step, what, rows, _watch.LastTrusted, _watch.Newest, _watch.LeftRangeAt);

    /// <summary>Running sums of per-micro-batch figures, averaged into a step's metrics.</summary>
    private sealed class MetricSums
    {
        private readonly Dictionary<string, (double Sum, int Count)> _sums = new(StringComparer.Ordinal);

        public void Add(string name, double value, int count)
        {
            var (s, c) = _sums.GetValueOrDefault(name);
            _sums[name] = (s + value, c + count);
        }

        public IEnumerable<(string Name, double Mean)> Means() => _sums.Select(kv => (kv.Key, kv.Value.Sum / kv.Value.Count));

        public TrainingMetrics ToMetrics(int step, double epoch, string prefix)
        {
            var m = new TrainingMetrics(step, epoch);
            foreach (var (name, mean) in Means())
                m.Set(prefix + name, mean);
            return m;
        }
    }
}
