using Microsoft.ML.Preference.Trainers.Losses;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Quickstart;

/// <summary>
/// Tables 6-7 of the paper in miniature: from the quickstart's base model and pairs, one run per preference loss
/// (DPO, RSO/hinge, IPO, cDPO, robust, BCO, SPPO, AOT, TR-DPO, ORPO), each also with the SFT term added ("X+"), and
/// the Direct / CoT / Δ table as markdown and PNG. Long: about a minute per loss on 2 cores with the defaults.
/// </summary>
internal static class AblationRunner
{
    /// <summary>(name, loss terms, option changes) of every run.</summary>
    internal static IReadOnlyList<(string Name, PreferenceLossOptions Loss, Action<Trainers.MpoTrainer.Options>? Change)> Variants(double beta = 0.1)
    {
        var list = new List<(string, PreferenceLossOptions, Action<Trainers.MpoTrainer.Options>?)>(QuickstartRunner.ComparedRuns(beta));
        void Add(string name, PreferenceLossType type, double smoothing = 0, Action<Trainers.MpoTrainer.Options>? change = null)
        {
            var single = PreferenceLossOptions.Single(type, beta, labelSmoothing: smoothing);
            list.Add((name, single, change));
            list.Add((name + "+", single with { Terms = [.. single.Terms, new PreferenceLossTerm(PreferenceLossType.Sft, 1.0)] }, change));
        }
        Add("DPO", PreferenceLossType.Sigmoid);
        Add("RSO", PreferenceLossType.Hinge);
        Add("IPO", PreferenceLossType.Ipo);
        Add("cDPO", PreferenceLossType.Sigmoid, smoothing: 0.1);
        Add("RobustDPO", PreferenceLossType.Robust, smoothing: 0.1);
        Add("BCO", PreferenceLossType.BcoPair);
        Add("SPPO", PreferenceLossType.SppoHard);
        Add("AOT", PreferenceLossType.AotPair);
        Add("TR-DPO", PreferenceLossType.Sigmoid, change: o => { o.ReferenceSyncSteps = 16; o.ReferenceSyncMixup = 0.6; });
        // ORPO already carries its NLL term, so it has no "+" variant.
        list.Add(("ORPO", PreferenceLossOptions.Mpo with { Beta = beta }, o => o.UseOrpo = true));
        return list;
    }

    public static void Run(QuickstartOptions options, IReadOnlySet<string>? only = null, CancellationToken cancel = default)
    {
        var runner = new QuickstartRunner(options, cancel);
        var (data, baseDir, _, pairs) = runner.PrepareBaseAndPairs();
        var test = runner.TestSet(data);
        var scores = new List<ModelScores> { runner.Evaluate("base", baseDir, test) };
        foreach (var (name, loss, change) in Variants(options.Beta).Where(v => only is null || only.Contains(v.Name)))
        {
            AnsiConsole.MarkupLineInterpolated($"[bold blue]ablation: {name}[/]");
            var dir = Path.Combine(options.OutputFolder, "ablation", name.Replace('+', 'p'));
            runner.Train(baseDir, pairs, loss, options.PreferenceEpochs, options.PreferenceLearningRate, QuickstartOptions.PreferenceBatchSize, dir, "ablation-" + name.Replace('+', 'p'), change);
            scores.Add(runner.Evaluate(name, dir, test));
        }
        QuickstartReport.Print(scores);
        var markdown = Path.Combine(options.OutputFolder, "ablation.md");
        File.WriteAllText(markdown, "# Loss ablation (synthetic visual reasoning, tiny model)\n\n" + QuickstartReport.Markdown(scores));
        var png = Path.Combine(options.OutputFolder, "ablation.png");
        QuickstartReport.WritePng(png, scores, []);
        AnsiConsole.WriteLine($"Table: {Path.GetFullPath(markdown)}; figure: {Path.GetFullPath(png)}");
    }
}
