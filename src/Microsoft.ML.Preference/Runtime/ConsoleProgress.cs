using System.Diagnostics;
using Spectre.Console;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>
/// A Spectre.Console progress bar that is drawn on the thread doing the work, between its TorchSharp calls.
/// </summary>
/// <remarks>
/// Spectre's default redraws from a background thread ten times a second, and that thread allocates: a garbage
/// collection it starts can run while the working thread is inside a native TorchSharp call. TorchSharp 0.107 passes
/// the Scalars it creates implicitly (the alpha of 1 in <c>a + b</c>, the 0.5 in <c>x * 0.5</c>) to libtorch by handle
/// without keeping them alive, so such a collection can finalize and free a Scalar that libtorch has not read yet. The
/// quickstart's pair job died that way after 233 questions ("Expected false to be true ... toFloat at Scalar.h:140",
/// from an add in the decoder), and a stress loop of <c>a + b</c> with collections forced on another thread dies the
/// same way within seconds (holding the Scalar in a variable does not). When only the working thread allocates, a
/// collection starts at one of its allocations, never inside one of its native calls, and the Scalars it frees belong
/// to calls that have returned.
/// </remarks>
internal static class ConsoleProgress
{
    /// <summary>How often the bar is redrawn at most: as often as Spectre's own refresh.</summary>
    private static readonly TimeSpan RedrawEvery = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Runs <paramref name="work"/> under one progress bar of <paramref name="maxValue"/> units; <paramref name="work"/>
    /// reports (value, description) through the action it is given, and the bar is redrawn from there.
    /// </summary>
    public static void Run(string title, double maxValue, Action<Action<double, string>> work) =>
        AnsiConsole.Progress()
            .AutoRefresh(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(title, maxValue: maxValue);
                var clock = Stopwatch.StartNew();
                TimeSpan? lastDrawn = null;
                ctx.Refresh();
                work((value, description) =>
                {
                    task.Value = value;
                    task.Description = description;
                    if (lastDrawn is { } drawn && clock.Elapsed - drawn < RedrawEvery && value < maxValue)
                        return;
                    lastDrawn = clock.Elapsed;
                    ctx.Refresh();
                });
            });
}
