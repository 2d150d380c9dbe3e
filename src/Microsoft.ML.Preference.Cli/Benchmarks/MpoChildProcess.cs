using System.Diagnostics;
using System.Text.Json;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>
/// Runs this very <c>mpo</c> tool again in a child process (each benchmark variant gets its own process, so that peak
/// memory and libtorch's start-up settings are its own) and reads back the one "RESULT {json}" line it prints.
/// </summary>
internal static class MpoChildProcess
{
    public const string ResultPrefix = "RESULT ";

    /// <summary>Start info for <c>mpo <paramref name="args"/></c>, with <paramref name="environment"/> set in the child.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
            psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            psi.Environment[name] = value;
        return psi;
    }

    /// <summary>The arguments this process was started with (without the tool's own dll when run through dotnet).</summary>
    public static IEnumerable<string> OwnArguments() =>
        Environment.GetCommandLineArgs().Skip(1).Where(a => !a.EndsWith(".dll", StringComparison.OrdinalIgnoreCase));

    /// <summary>Runs the child to its end and deserialises its result line.</summary>
    /// <exception cref="InvalidOperationException">It printed no result line (its output is in the message).</exception>
    public static T Run<T>(string what, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        using var p = Process.Start(StartInfo(args, environment))!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith(ResultPrefix, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"{what} printed no result (exit code {p.ExitCode}):\n{output}");
        return JsonSerializer.Deserialize<T>(line[ResultPrefix.Length..])!;
    }

    /// <summary>Prints <paramref name="result"/> as the line <see cref="Run{T}"/> reads.</summary>
    public static void PrintResult<T>(T result) => Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(result));
}
