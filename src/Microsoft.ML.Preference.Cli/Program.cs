using System.CommandLine;
using Microsoft.ML.Preference.Cli.Commands;

namespace Microsoft.ML.Preference.Cli;

/// <summary>Entry point of the <c>mpo</c> tool: one sub-command per file under Commands/.</summary>
public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    internal static RootCommand BuildRoot()
    {
        var root = new RootCommand("mpo: Mixed Preference Optimization for vision-language models on ML.NET and TorchSharp.");
        root.Subcommands.Add(QuickstartCommand.Create());
        root.Subcommands.Add(QuickstartCommand.CreateAblation());
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(ScoreCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(BuildPairsCommand.Create());
        root.Subcommands.Add(MergePairsCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        return root;
    }
}
