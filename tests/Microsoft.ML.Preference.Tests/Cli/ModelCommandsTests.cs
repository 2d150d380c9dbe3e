using Microsoft.ML.Preference.Cli;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Tests.Modeling;
using Microsoft.ML.Preference.Tests.Modeling.Checkpoints;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Cli;

/// <summary>The `mpo score` and `mpo inspect` commands, run in-process as a user would run them.</summary>
[Collection("Console")]
public class ModelCommandsTests
{
    [Theory]
    [InlineData("qwen2", "cases.safetensors")]
    [InlineData("internlm2", "cases.safetensors")]
    [InlineData("internlm2", "cases-t25.safetensors")]
    public void ScoreWritesLogitsAndLogProbsThatMatchTheReference(string backbone, string cases)
    {
        using var tmp = new TempFolder();
        var folder = TinyModelFixture.Folder(backbone);
        var output = tmp.File("scores.safetensors");
        int code = Program.Main(["score", "--model", folder, "--cases", Path.Combine(folder, cases), "--out", output]);
        Assert.Equal(0, code);

        using var expected = SafetensorsFile.Open(Path.Combine(folder, cases));
        using var actual = SafetensorsFile.Open(output);
        using var scope = torch.NewDisposeScope();
        TinyModelFixture.AssertClose(expected.Read("expected_logits"), actual.Read("logits"), 1e-4, "logits");
        TinyModelFixture.AssertClose(expected.Read("expected_token_logps"), actual.Read("token_logps"), 1e-3, "token_logps");
        TinyModelFixture.AssertClose(expected.Read("expected_response_logps"), actual.Read("response_logps"), 1e-3, "response_logps");
    }

    [Fact]
    public void InspectSucceedsOnAGoodFolderAndNamesTheFileOfABadOne()
    {
        var output = new StringWriter();
        var previous = Spectre.Console.AnsiConsole.Console;
        Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(output) });
        try
        {
            InspectGoodAndBad(output);
        }
        finally
        {
            Spectre.Console.AnsiConsole.Console = previous;
        }
    }

    private static void InspectGoodAndBad(StringWriter output)
    {
        Assert.Equal(0, Program.Main(["inspect", "--model", TinyModelFixture.Folder("qwen2")]));
        var text = output.ToString();
        Assert.Contains("Qwen2", text);
        Assert.Contains("<IMG_CONTEXT> = 93", text);

        using var tmp = new TempFolder();
        foreach (var file in Directory.GetFiles(TinyModelFixture.Folder("qwen2")))
            File.Copy(file, tmp.File(Path.GetFileName(file)));
        var shard = tmp.File("model-00002-of-00002.safetensors");
        var bytes = File.ReadAllBytes(shard);
        File.WriteAllBytes(shard, bytes[..(bytes.Length - 100)]); // truncated
        // Errors go to stderr (CliErrors), one line naming the file.
        var error = new StringWriter();
        var previousError = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(1, Program.Main(["inspect", "--model", tmp.Path]));
        }
        finally
        {
            Console.SetError(previousError);
        }
        Assert.StartsWith("error: ", error.ToString());
        Assert.Contains("model-00002-of-00002.safetensors", error.ToString());
    }
}
