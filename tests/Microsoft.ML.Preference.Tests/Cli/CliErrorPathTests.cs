using System.Text.Json;
using Microsoft.ML.Preference.Cli;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Tests.Runtime;
using Microsoft.ML.Preference.Tests.Trainers;

namespace Microsoft.ML.Preference.Tests.Cli;

/// <summary>
/// The CLI's one error path: a failure is one or two lines on stderr naming the file and 1-based line (or the
/// option), with a non-zero exit code; the stack trace only with --verbose.
/// </summary>
[Collection("Console")]
public class CliErrorPathTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (output, error) = (new StringWriter(), new StringWriter());
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            int code = Program.Main(args);
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    private static string WriteJsonl(ToyPreferenceData toy, Func<int, ToyRow, ToyRow> edit)
    {
        var jsonl = Path.Combine(toy.Root, "pairs.jsonl");
        var lines = toy.Rows(8, seed: 3).Select((r, i) => edit(i, r)).Select(r => JsonSerializer.Serialize(new
        {
            image = Path.GetRelativePath(toy.Root, r.Image), question = r.Prompt, chosen = r.Chosen, rejected = r.Rejected,
        })).ToList();
        lines.Insert(1, ""); // a blank line: row 2 (0-based) is line 4
        File.WriteAllLines(jsonl, lines);
        return jsonl;
    }

    [Fact]
    public void ABadRowIsOneLineNamingTheFileAndLineAndTheStackOnlyWithVerbose()
    {
        using var toy = new ToyPreferenceData();
        var jsonl = WriteJsonl(toy, (i, r) =>
        {
            if (i == 2)
                r.Image = Path.Combine(toy.Root, "missing.png");
            return r;
        });
        var output = Path.Combine(toy.Root, "run");
        string[] train = ["train", "--model", toy.ModelPath, "--data", jsonl, "--out", output, "--lr", "1e-3", "--device", "cpu", "--dtype", "float32"];

        // The epoch meets row 2 in its turn (rows are checked as the run reaches them).
        var (code, _, err) = Run(train);
        Assert.Equal(1, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.InRange(lines.Length, 1, 2);
        Assert.StartsWith($"error: {jsonl}:4: bad row (data row 3): MissingImage", lines[0]);
        Assert.Contains("missing.png", lines[0]);
        Assert.DoesNotContain("   at ", err);

        var verbose = Run([.. train, "--verbose"]);
        Assert.Equal(1, verbose.Code);
        Assert.Contains("   at ", verbose.Err);

        // Skipped instead, the counts by reason reach the console; the run finishes.
        var skipped = Run([.. train, "--skip-bad-rows"]);
        Assert.True(skipped.Code == 0, skipped.Err);
        Assert.Contains("warning: Skipped rows: MissingImage 1", skipped.Err);

        // Resuming the finished run says so and succeeds (scripts that retry until success stop retrying).
        var again = Run([.. train, "--skip-bad-rows", "--resume", "latest"]);
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("had already finished", again.Out);
        Assert.True(File.Exists(Path.Combine(output, "final", "config.json")));
    }

    [Fact]
    public void ALockedOutputFolderIsRefusedNamingTheHolder()
    {
        using var toy = new ToyPreferenceData();
        var jsonl = WriteJsonl(toy, (_, r) => r);
        var output = Path.Combine(toy.Root, "run");
        Directory.CreateDirectory(output);
        using var other = OutputLockTests.Sleeper();
        try
        {
            OutputLockTests.WriteLockOf(Path.Combine(output, OutputLock.FolderLockName), other, Environment.MachineName);
            var (code, _, err) = Run("train", "--model", toy.ModelPath, "--data", jsonl, "--out", output, "--max-steps", "1", "--device", "cpu");
            Assert.Equal(1, code);
            Assert.StartsWith("error: ", err);
            Assert.Contains($"is being written by another run: process {other.Id} on {Environment.MachineName}, started ", err);
            Assert.False(File.Exists(Path.Combine(output, "metrics.jsonl")));
        }
        finally
        {
            other.Kill();
        }
    }

    [Theory]
    [InlineData("build-pairs", "--samples", "1", "--samples must be at least 2 (a pair needs two samples), not 1.")]
    [InlineData("build-pairs", "--max-pairs", "0", "--max-pairs must be at least 1, not 0.")]
    [InlineData("build-pairs", "--keep-ratio", "1.5", "--keep-ratio must be above 0 and below 1, not 1.5.")]
    [InlineData("build-pairs", "--max-new-tokens", "-3", "--max-new-tokens must be at least 1, not -3.")]
    [InlineData("generate", "--top-p", "0", "--top-p must be above 0 and at most 1, not 0.")]
    [InlineData("generate", "--temperature", "-1", "--temperature must be at least 0, not -1.")]
    public void ANumericOptionOutOfRangeIsRefusedNamingIt(string command, string option, string value, string message)
    {
        string[] required = command == "build-pairs"
            ? ["--pipeline", "correctness", "--model", "m", "--data", "d.jsonl", "--out", "o.jsonl"]
            : ["--model", "m", "--prompt", "?"];
        var (code, output, err) = Run([command, .. required, option, value]);
        Assert.NotEqual(0, code);
        Assert.Contains(message, output + err);
    }
}
