using Microsoft.ML.Preference.Runtime;
using Spectre.Console;

namespace Microsoft.ML.Preference.Tests.Runtime;

public class ConsoleProgressTests
{
    [Fact]
    public void TheBarShowsTheFirstAndLastReportsAndIsNotRedrawnForEach()
    {
        var previous = AnsiConsole.Console;
        var output = new StringWriter();
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(output),
        });
        try
        {
            // A burst of reports: the first and the last are drawn, and the bar is not redrawn for each of the others.
            ConsoleProgress.Run("job", 500, report =>
            {
                for (int i = 1; i <= 500; i++)
                    report(i, $"job: {i}/500 rows");
            });
            var text = output.ToString();
            Assert.Contains("job: 1/500 rows", text);
            Assert.Contains("job: 500/500 rows", text);
            int drawn = text.Split("/500 rows").Length - 1;
            Assert.InRange(drawn, 2, 50);
        }
        finally
        {
            AnsiConsole.Console = previous;
        }
    }
}
