using System.CommandLine;
using Microsoft.ML.Preference.Cli.Quickstart;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo quickstart</c>: the built-in benchmark where a tiny model learns, and MPO is compared with SFT.</summary>
internal static class QuickstartCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "output folder", DefaultValueFactory = _ => "quickstart-output" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var command = new Command("quickstart", "Base model, pairs, SFT and MPO on a built-in synthetic visual-reasoning set; prints the Direct vs CoT table and writes a PNG.")
        {
            output, seed,
        };
        command.SetAction(parse => CliErrors.Run(() =>
            new QuickstartRunner(new QuickstartOptions { OutputFolder = parse.GetValue(output)!, Seed = parse.GetValue(seed) }).Run()));
        return command;
    }

    /// <summary><c>mpo ablation</c>: every loss of the paper's Tables 6-7 from the quickstart's base and pairs.</summary>
    public static Command CreateAblation()
    {
        var output = new Option<string>("--out") { Description = "output folder (a quickstart folder's base and pairs are reused)", DefaultValueFactory = _ => "quickstart-output" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var only = new Option<string?>("--only") { Description = "comma-separated subset, e.g. DPO,DPO+,ORPO" };
        var command = new Command("ablation", "Train DPO, RSO, IPO, cDPO, robust, BCO, SPPO, AOT, TR-DPO, ORPO and each + SFT from the same base and pairs; " +
            "writes the Direct / CoT / delta table (markdown) and a PNG. Long: not part of CI.") { output, seed, only };
        command.SetAction(parse => CliErrors.Run(() => AblationRunner.Run(
            new QuickstartOptions { OutputFolder = parse.GetValue(output)!, Seed = parse.GetValue(seed) },
            parse.GetValue(only) is { } names ? names.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet() : null)));
        return command;
    }
}
