using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Trainers.Losses;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>trainer_state.json: where a run is and what it needs to go on exactly.</summary>
internal sealed record TrainerState
{
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("total_steps")] public int TotalSteps { get; init; }
    [JsonPropertyName("seed")] public int Seed { get; init; }
    [JsonPropertyName("data_fingerprint")] public string DataFingerprint { get; init; } = "";
    [JsonPropertyName("rows")] public int Rows { get; init; }
    [JsonPropertyName("bco_running_moments")] public BcoRunningMomentsState? Bco { get; init; }
    [JsonPropertyName("has_adapter")] public bool HasAdapter { get; init; }
    [JsonPropertyName("has_reference")] public bool HasReference { get; init; }
    [JsonPropertyName("skipped_rows")] public Dictionary<string, int> SkippedRows { get; init; } = new();
    [JsonPropertyName("last_metrics")] public Dictionary<string, double> LastMetrics { get; init; } = new();
}

/// <summary>
/// A training checkpoint folder: <c>model/</c> (full weights, a loadable HF folder) or <c>adapter/</c> (PEFT),
/// <c>reference/</c> when TR-DPO moves the reference, <c>optimizer.bin</c> (AdamW moments and steps; under bf16 with
/// float32 master weights <c>master_weights.safetensors</c> instead: master copies, moments, steps),
/// <c>rng_state.bin</c> (torch's CPU generator) and <c>trainer_state.json</c> (step, BCO δ state, data fingerprint).
/// Written into a temporary folder and renamed, so a crash never leaves a half checkpoint under the final name.
/// </summary>
internal static class TrainingCheckpoint
{
    public const string StateFile = "trainer_state.json";
    public const string RngFile = "rng_state.bin";
    public const string ModelFolder = "model";
    public const string AdapterFolder = "adapter";
    public const string ReferenceFolder = "reference";
    public const string Prefix = "checkpoint-";
    public const string TemporaryMarker = ".tmp-";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static string PathFor(string outputDirectory, int step) => System.IO.Path.Combine(outputDirectory, Prefix + step);

    /// <summary>Writes a checkpoint: <paramref name="writeContents"/> fills the temporary folder, the rest is common.</summary>
    public static string Save(string outputDirectory, TrainerState state, ITrainingOptimizer optimizer, Action<string> writeContents)
    {
        var final = PathFor(outputDirectory, state.Step);
        var temp = final + TemporaryMarker + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(temp);
        try
        {
            writeContents(temp);
            optimizer.Save(temp);
            using (var rng = torch.random.get_rng_state())
                File.WriteAllBytes(System.IO.Path.Combine(temp, RngFile), rng.bytes.ToArray());
            File.WriteAllText(System.IO.Path.Combine(temp, StateFile), JsonSerializer.Serialize(state, Json));
            if (Directory.Exists(final))
                Directory.Delete(final, recursive: true);
            Directory.Move(temp, final);
            return final;
        }
        catch
        {
            if (Directory.Exists(temp))
                Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Deletes the temporary folders (<c>checkpoint-N.tmp-*</c>) of checkpoint writes that never finished (a kill or a
    /// full disk during <see cref="Save"/>; each can be gigabytes) and returns their names. Only call it while holding
    /// the folder's <see cref="Runtime.OutputLock"/>: a live run's write in progress looks the same.
    /// </summary>
    public static IReadOnlyList<string> RemoveUnfinished(string outputDirectory)
    {
        if (!Directory.Exists(outputDirectory))
            return [];
        var removed = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories(outputDirectory, Prefix + "*" + TemporaryMarker + "*").ToList())
        {
            Directory.Delete(dir, recursive: true);
            removed.Add(dir);
        }
        return removed;
    }

    /// <summary>The folder named by <paramref name="resumeFrom"/>: a path, or "latest" in <paramref name="outputDirectory"/>.</summary>
    public static string Resolve(string resumeFrom, string? outputDirectory)
    {
        if (!string.Equals(resumeFrom, "latest", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(System.IO.Path.Combine(resumeFrom, StateFile)))
                throw new DirectoryNotFoundException($"ResumeFromCheckpoint '{resumeFrom}' is not a checkpoint folder (no {StateFile}).");
            return resumeFrom;
        }
        if (outputDirectory is null || !Directory.Exists(outputDirectory))
            throw new DirectoryNotFoundException("ResumeFromCheckpoint = 'latest' needs an OutputDirectory that holds checkpoints.");
        var latest = Directory.EnumerateDirectories(outputDirectory, Prefix + "*")
            .Select(d => (Dir: d, Ok: int.TryParse(System.IO.Path.GetFileName(d)[Prefix.Length..], out int s), Step: s))
            .Where(x => x.Ok && File.Exists(System.IO.Path.Combine(x.Dir, StateFile)))
            .OrderByDescending(x => x.Step)
            .FirstOrDefault();
        return latest.Dir ?? throw new DirectoryNotFoundException($"No checkpoint in {outputDirectory} to resume from.");
    }

    public static TrainerState ReadState(string checkpoint) =>
        JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(System.IO.Path.Combine(checkpoint, StateFile)))
        ?? throw new InvalidDataException($"{checkpoint}: {StateFile} is empty.");

    public static void RestoreOptimizerAndRng(string checkpoint, ITrainingOptimizer optimizer)
    {
        optimizer.Restore(checkpoint);
        var bytes = File.ReadAllBytes(System.IO.Path.Combine(checkpoint, RngFile));
        using var rng = torch.tensor(bytes, dtype: ScalarType.Byte, device: torch.CPU);
        torch.random.set_rng_state(rng);
    }
}
