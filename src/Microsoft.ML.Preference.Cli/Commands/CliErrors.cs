using System.Text.Json;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Preference.Cli.Commands;

/// <summary>
/// The one error path of the <c>mpo</c> tool: every failure becomes one or two lines on stderr that name the file
/// and 1-based line (or the option) at fault, and a non-zero exit code; the stack trace only with <c>--verbose</c>.
/// Exit codes: 1 for a failure the user can fix (bad rows, images, options, checkpoints, locks, a full disk),
/// 130 for a cancellation, 70 for anything unexpected (a bug: rerun with --verbose and report it).
/// </summary>
internal static class CliErrors
{
    public const int Failure = 1;
    public const int Canceled = 130;
    public const int Internal = 70;

    /// <summary>Set from <c>--verbose</c> before the command runs.</summary>
    public static bool Verbose { get; set; }

    [ThreadStatic]
    private static string? _dataFile;

    /// <summary>
    /// Names the jsonl the command's rows come from, so that a <see cref="BadRowException"/> (which knows only the
    /// row's position) is reported at its file and line.
    /// </summary>
    public static void RowsFrom(string jsonlPath) => _dataFile = jsonlPath;

    public static int Run(Action action)
    {
        _dataFile = null;
        try
        {
            action();
            return 0;
        }
        catch (Exception e)
        {
            return Report(e);
        }
        finally
        {
            _dataFile = null;
        }
    }

    /// <summary>Prints <paramref name="e"/> as the user should see it and returns the exit code.</summary>
    public static int Report(Exception e)
    {
        if (e is BadRowException bad && bad.SourceFile is null && _dataFile is { } file)
            e = bad.WithSource(file, row => PreferenceJsonl.LineOfRow(file, row));
        int code;
        string text;
        switch (e)
        {
            case OperationCanceledException:
                code = Canceled;
                text = $"stopped: {e.Message}";
                break;
            case IOException io when IsDiskFull(io):
                code = Failure;
                text = $"error: the disk is full ({e.Message}). What was finished before is kept: free some space and run the same command again " +
                       "(training: add --resume latest).";
                break;
            case OutOfMemoryException:
                code = Failure;
                text = $"error: out of memory ({e.Message}). Lower --batch-size, the image pixel limit or the sequence length.";
                break;
            case var _ when IsAnticipated(e):
                code = Failure;
                text = $"error: {e.Message}";
                break;
            default:
                code = Internal;
                text = $"internal error ({e.GetType().Name}): {e.Message}" + (Verbose ? "" : " Rerun with --verbose for the stack trace, and report it.");
                break;
        }
        Console.Error.WriteLine(text);
        if (Verbose)
            Console.Error.WriteLine(e.ToString());
        return code;
    }

    /// <summary>
    /// Shows the library's warnings (skipped rows by reason, rows cut to the maximum length, a dead run's lock taken
    /// over, removed temporary checkpoints) on stderr as they are logged; the step-by-step lines stay on the progress bar.
    /// </summary>
    public static void ShowWarnings(MLContext ml) =>
        ml.Log += (_, e) =>
        {
            if (e.Kind == ChannelMessageKind.Warning)
                Console.Error.WriteLine($"warning: {e.RawMessage}");
        };

    private static bool IsAnticipated(Exception e) =>
        e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException
            or UnauthorizedAccessException or BadRowException or Images.ImageLoadException or Text.TokenizerFileException
            or JsonException or FormatException;

    /// <summary>ENOSPC (28) or EDQUOT (122) on Linux, ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows.</summary>
    private static bool IsDiskFull(IOException e) =>
        (e.HResult & 0xFFFF) is 28 or 122 or 0x70 or 0x27 || e.Message.Contains("No space left on device", StringComparison.Ordinal);
}
