using System.CommandLine;
using Microsoft.ML.Preference.Runtime;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo doctor</c>: shows how TorchSharp's native library was prepared and trains a tiny network.</summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };
        var command = new Command("doctor", "Check that TorchSharp loads and trains on this machine (forward, backward, AdamW).") { device };
        command.SetAction(parse => Run(parse.GetValue(device)!));
        return command;
    }

    private static int Run(string device)
    {
        TorchSelfCheckReport report;
        try
        {
            report = TorchSelfCheck.Run(device);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 1;
        }

        var rt = report.Runtime;
        var table = new Table().AddColumns("check", "result");
        table.AddRow("native patch", rt.Outcome.ToString());
        table.AddRow("host libstdc++", Markup.Escape(rt.HostLibStdCxxPath ?? "-"));
        table.AddRow("missing host versions", Markup.Escape(rt.MissingHostVersions.Count == 0 ? "none" : string.Join(", ", rt.MissingHostVersions)));
        table.AddRow("shipped library", Markup.Escape(rt.OriginalLibraryPath ?? "-"));
        table.AddRow("loaded library", Markup.Escape(rt.LoadedLibraryPath ?? "-"));
        table.AddRow("device / threads", $"{report.Device} / {report.Threads}");
        table.AddRow("loss", $"{report.InitialLoss:F4} -> {report.FinalLoss:F4} in {report.Steps} AdamW steps");
        table.AddRow("first gradient norm", $"{report.FirstGradientNorm:F4}");
        table.AddRow("elapsed", $"{report.Elapsed.TotalMilliseconds:F0} ms");
        AnsiConsole.Write(table);

        if (!report.Learned)
        {
            AnsiConsole.MarkupLine("[red]TorchSharp ran but the network did not learn: the native backend is not healthy.[/]");
            return 2;
        }
        AnsiConsole.MarkupLine("[green]TorchSharp works: forward, backward and the optimiser ran.[/]");
        return 0;
    }
}
