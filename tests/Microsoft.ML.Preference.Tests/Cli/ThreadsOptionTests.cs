using Microsoft.ML.Preference.Cli;

namespace Microsoft.ML.Preference.Tests.Cli;

public class ThreadsOptionTests
{
    [Theory]
    [InlineData("doctor")]
    [InlineData("bench", "forward")]
    [InlineData("build-pairs", "--pipeline", "correctness", "--model", "m", "--data", "d", "--out", "o")]
    public void EveryCommandTakesThreadsAfterItsName(params string[] command)
    {
        var parse = Program.BuildRoot().Parse([.. command, "--threads", "3"]);
        Assert.Empty(parse.Errors);
        Assert.Equal(3, parse.GetValue(Program.ThreadsOption));
        Assert.Null(Program.BuildRoot().Parse(command).GetValue(Program.ThreadsOption));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    public void ThreadsBelowOneAreAParseErrorNamingTheOption(string value)
    {
        var parse = Program.BuildRoot().Parse(["doctor", "--threads", value]);
        Assert.Contains(parse.Errors, e => e.Message == $"--threads must be at least 1, not {value}.");
    }
}
