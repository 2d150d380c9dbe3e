using System.Diagnostics;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Mmpr;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>The input side alone: how fast the loader delivers rows and how much memory it takes.</summary>
internal sealed record DataLoaderResult(int Workers, int Rows, double IndexSeconds, double FirstBatchSeconds, double RowsPerSecond,
    long BaselineRssBytes, long PeakRssBytes, long PeakManagedBytes);

/// <summary>Training on the set: time to the first step and how long the trainer waits for data.</summary>
/// <remarks>Of the first step's time: <c>ModelLoadedSeconds</c> to load the policy, <c>InputReadySeconds</c> when the input is indexed (the reference model loads after it).</remarks>
internal sealed record DataTrainResult(int Workers, int Steps, double FirstStepSeconds, double ModelLoadedSeconds, double InputReadySeconds,
    double MedianStepSeconds, double WaitFraction, long PeakRssBytes, int Rows);

/// <summary>
/// <c>mpo bench data</c>'s measurements, each run in a process of its own (the parent starts one per figure) so
/// that the peak RSS is that of one configuration.
/// </summary>
internal static class DataBenchmark
{
    /// <summary>
    /// Takes <paramref name="batches"/> micro-batches of <paramref name="batchSize"/> from the loader as fast as it
    /// gives them (no model compute): rows/s is what the input side can deliver. The baseline RSS is the process after
    /// the runtime and the tiny model are loaded; the peak above it is the input side's (index, queue, workers).
    /// </summary>
    public static DataLoaderResult RunLoader(string meta, int workers, int batchSize, int batches, int seed)
    {
        TorchRuntime.Initialize();
        var folder = Path.Combine(Path.GetDirectoryName(meta)!, MmprBenchSet.ModelFolder);
        using var vlm = VisionLanguageModel.Load(folder, ScalarType.Float32, CPU, 512, null);
        var preparer = new PreferenceRowPreparer(vlm);
        GC.Collect();
        long baseline = ProcessMemory.ResidentBytes();
        long peakManaged = 0;
        var clock = Stopwatch.StartNew();
        var view = new MLContext(seed).Preference.Data.LoadMmpr(meta, seed);
        using var source = PreferenceRowSource.For(view, new PreferenceColumns(PreferenceColumnNames.Image, PreferenceColumnNames.Prompt,
            PreferenceColumnNames.Chosen, PreferenceColumnNames.Rejected), null);
        double indexSeconds = clock.Elapsed.TotalSeconds;
        var order = new EpochOrder(source.Count, seed, batchSize, 1);
        using var loader = new PrefetchingBatchLoader(source, preparer, order, 0, batches, workers, workers * 2);
        int rows = 0;
        double firstBatch = 0;
        var delivery = Stopwatch.StartNew();
        for (int k = 0; k < batches; k++)
        {
            using var batch = loader.Take(k);
            rows += batch.Rows.Count;
            if (k == 0)
            {
                firstBatch = clock.Elapsed.TotalSeconds;
                delivery.Restart(); // rows/s of the steady state: the first batch (workers starting) is timed apart
                rows = 0;
            }
            peakManaged = Math.Max(peakManaged, GC.GetTotalMemory(false));
        }
        return new DataLoaderResult(workers, source.Count, indexSeconds, firstBatch, rows / delivery.Elapsed.TotalSeconds,
            baseline, ProcessMemory.PeakResidentBytes(), peakManaged);
    }

    /// <summary>Fit on the set for <paramref name="steps"/> steps; the first step's time counts from the call to Fit.</summary>
    public static DataTrainResult RunTraining(string meta, int workers, int batchSize, int steps, int seed)
    {
        var ml = new MLContext(seed);
        var clock = Stopwatch.StartNew();
        double first = 0, modelLoaded = 0, inputReady = 0;
        ml.Log += (_, e) =>
        {
            if (modelLoaded == 0 && e.Message.Contains("Loaded ", StringComparison.Ordinal))
                modelLoaded = clock.Elapsed.TotalSeconds;
            if (inputReady == 0 && e.Message.Contains("Training input: ", StringComparison.Ordinal))
                inputReady = clock.Elapsed.TotalSeconds;
        };
        var metrics = new List<TrainingMetrics>();
        var options = new MpoTrainer.Options
        {
            ModelPath = Path.Combine(Path.GetDirectoryName(meta)!, MmprBenchSet.ModelFolder),
            BatchSize = batchSize, MaxSteps = steps, DataLoaderWorkers = workers, MaxLength = 512, Seed = seed,
            FreezeVision = false, ShowProgress = false, Device = "cpu", LearningRate = 1e-4, WarmupRatio = 0,
            Progress = new Progress(m =>
            {
                if (m.Step == 1)
                    first = clock.Elapsed.TotalSeconds;
                metrics.Add(m);
            }),
        };
        clock.Restart();
        using (ml.Preference.Trainers.Mpo(options).Fit(ml.Preference.Data.LoadMmpr(meta, seed)))
        {
        }
        // The steady state: the first step also starts the workers and warms the kernels.
        var steady = metrics.Skip(1).ToList();
        double wait = steady.Sum(m => m["data/wait_seconds"]), total = steady.Sum(m => m["step_seconds"]);
        return new DataTrainResult(workers, steps, first, modelLoaded, inputReady, Timing.Median(steady.Select(m => m["step_seconds"])), total > 0 ? wait / total : 0,
            ProcessMemory.PeakResidentBytes(), batchSize * steps);
    }

    private sealed class Progress(Action<TrainingMetrics> report) : IProgress<TrainingMetrics>
    {
        public void Report(TrainingMetrics value) => report(value);
    }
}
