using System.Text.Json;
using Microsoft.ML.Preference.Cli;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Tests.Trainers;

namespace Microsoft.ML.Preference.Tests.Cli;

[Collection("Console")]
public class TrainGenerateCommandsTests
{
    [Fact]
    public void TrainOnAJsonlThenGenerateWithTheResult()
    {
        using var toy = new ToyPreferenceData();
        var jsonl = Path.Combine(toy.Root, "pairs.jsonl");
        File.WriteAllLines(jsonl, toy.Rows(8, seed: 3).Select(r => JsonSerializer.Serialize(new
        {
            image = Path.GetRelativePath(toy.Root, r.Image), question = r.Prompt, chosen = r.Chosen, rejected = r.Rejected,
        })));
        var output = Path.Combine(toy.Root, "run");
        Assert.Equal(0, Program.Main(["train", "--model", toy.ModelPath, "--data", jsonl, "--out", output, "--max-steps", "2", "--lr", "1e-3", "--device", "cpu"]));
        Assert.True(File.Exists(Path.Combine(output, "metrics.jsonl")));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Length);
        Assert.True(File.Exists(Path.Combine(output, "training-curves.png")));
        Assert.True(File.Exists(Path.Combine(output, "final", "model.safetensors")));

        var image = toy.Rows(1, seed: 1)[0].Image;
        Assert.Equal(0, Program.Main(["generate", "--model", Path.Combine(output, "final"), "--image", image, "--prompt", "What colour is the square?", "--max-new-tokens", "8", "--device", "cpu"]));
        Assert.Equal(1, Program.Main(["generate", "--model", Path.Combine(output, "final"), "--image", Path.Combine(toy.Root, "nope.png"), "--prompt", "?"]));
    }

    [Fact]
    public void TrainWithTheInternVL2RecipeInBf16FromAnMmprMetaJson()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var meta = ml.Preference.Data.SaveMmpr(ml.Data.LoadFromEnumerable(toy.Rows(8, seed: 3)), Path.Combine(toy.Root, "mmpr"), "toy_train");
        var validation = ml.Preference.Data.SaveMmpr(ml.Data.LoadFromEnumerable(toy.Rows(4, seed: 4)), Path.Combine(toy.Root, "mmpr-val"), "toy_val");
        var output = Path.Combine(toy.Root, "run");
        // The recipe's batch 1 x 256 is overridden for 8 pairs; everything else (bf16, drop path, nothing frozen, ...) is the script's.
        Assert.Equal(0, Program.Main(["train", "--recipe", "internvl2", "--dtype", "bfloat16", "--gradient-checkpointing", "--meta", meta,
            "--validation", validation, "--model", toy.ModelPath, "--out", output, "--batch-size", "2", "--grad-accum", "2", "--max-steps", "2",
            "--save-steps", "1", "--lr", "1e-3", "--max-length", "256", "--device", "cpu", "--system-message", "You are a helpful assistant."]));
        var lines = File.ReadAllLines(Path.Combine(output, "metrics.jsonl"));
        Assert.Equal(2, lines.Length);
        Assert.Contains("\"eval_loss\"", lines[^1]);
        Assert.True(File.Exists(Path.Combine(output, "training-curves.png")));
        Assert.True(File.Exists(Path.Combine(output, "final", "model.safetensors")));
        foreach (var step in new[] { 1, 2 })
        {
            var checkpoint = Path.Combine(output, $"checkpoint-{step}");
            Assert.True(File.Exists(Path.Combine(checkpoint, "model", "model.safetensors")), checkpoint);
            Assert.True(File.Exists(Path.Combine(checkpoint, Microsoft.ML.Preference.Trainers.Training.MasterWeightAdamW.FileName)), checkpoint);
        }
        using var saved = Microsoft.ML.Preference.Modeling.Checkpoints.SafetensorsFile.Open(Path.Combine(output, "final", "model.safetensors"));
        Assert.Equal(global::TorchSharp.torch.ScalarType.BFloat16, saved.Read(saved.Names[0]).dtype);
    }

    [Fact]
    public void AMalformedJsonlLineIsNamed()
    {
        var path = Path.Combine(Path.GetTempPath(), "mlpref-bad-" + Guid.NewGuid().ToString("N")[..6] + ".jsonl");
        File.WriteAllLines(path, ["{\"image\": \"a.png\", \"question\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}", "{\"question\": 3}"]);
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => PreferenceJsonl.Read(path).ToList());
            Assert.Contains(":2:", e.Message);
            Assert.Contains("question", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
