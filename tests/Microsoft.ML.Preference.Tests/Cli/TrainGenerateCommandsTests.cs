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
