using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

/// <summary>
/// Turns the exceptions a user can cause (bad files, bad options, unsupported models) into one red line and
/// exit code 1; anything else is a bug and keeps its stack trace.
/// </summary>
internal static class CliErrors
{
    public static int Run(Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException
                                   or InvalidOperationException or UnauthorizedAccessException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 1;
        }
    }
}
