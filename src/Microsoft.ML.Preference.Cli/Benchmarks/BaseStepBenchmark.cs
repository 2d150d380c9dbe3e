using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Preference.Cli.Quickstart;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>What <see cref="BaseStepBenchmark.Run"/> measured.</summary>
internal sealed record BaseStepResult(int Steps, double Seconds, IReadOnlyList<(string Phase, double Seconds, long Count)> Phases,
    IReadOnlyList<double> Losses, double TokensPerStep, IReadOnlyDictionary<string, long> Counters);

/// <summary>
/// The quickstart's base step in isolation: its data and tiny model (steps 1-2 of the quickstart, default sizes and
/// seed), then the first stage of its base training (SFT on rationales and direct answers, its trainer settings)
/// for a few hundred steps, with the time of every phase of the step. The losses are returned so that a change
/// meant to remove overhead can be shown to leave every number as it was.
/// </summary>
internal static class BaseStepBenchmark
{
    public static BaseStepResult Run(string folder, int steps, int batchSize, Action<string> log)
    {
        var options = new QuickstartOptions { OutputFolder = folder, BaseBatchSize = batchSize };
        var runner = new QuickstartRunner(options);
        var (data, modelDir) = runner.PrepareDataAndModel();
        var rows = QuickstartRunner.BaseTeachingRows(data.Train, 0, options.Seed);
        var trainer = runner.BaseTrainerOptions(modelDir, options.BaseEpochs, options.BaseLearningRate);
        trainer.MaxSteps = steps;
        trainer.ShowProgress = false;
        var ml = new MLContext(seed: options.Seed);
        log($"base step: {rows.Count} rows, batch {trainer.BatchSize}, hidden {options.Hidden} x {options.Layers} layers, vision {options.VisionHidden} x {options.VisionLayers}; {steps} steps");
        var profile = StepProfile.Start();
        var clock = Stopwatch.StartNew();
        try
        {
            using var model = ml.Preference.Trainers.Mpo(trainer).Fit(ml.Data.LoadFromEnumerable(rows));
            double seconds = clock.Elapsed.TotalSeconds;
            var history = model.TrainingHistory;
            double tokens = history.Average(m => m["tokens_per_second"] * m["step_seconds"]);
            return new BaseStepResult(history.Count, history.Sum(m => m["step_seconds"]), profile.Phases, history.Select(m => m["loss"]).ToList(), tokens, profile.Counters);
        }
        finally
        {
            profile.Stop();
        }
    }

    /// <summary>One loss per line, round-trippable, for a byte comparison of two builds.</summary>
    public static void WriteLosses(string path, IReadOnlyList<double> losses) =>
        File.WriteAllLines(path, losses.Select((l, i) => $"{i + 1} {l.ToString("R", CultureInfo.InvariantCulture)}"));
}
