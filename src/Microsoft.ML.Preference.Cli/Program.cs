using System.CommandLine;
using Microsoft.ML.Preference.Cli.Commands;
using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Cli;

/// <summary>Entry point of the <c>mpo</c> tool: one sub-command per file under Commands/.</summary>
public static class Program
{
    private static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "print the stack trace of an error (errors are otherwise one or two lines naming the file, line or option)",
        Recursive = true,
    };

    /// <summary>
    /// <c>--threads N</c> on every command: libtorch's intra-op threads. Without it the package runs one per core this
    /// process may use (affinity and cgroup quota); the benchmarks keep their configuration's count.
    /// </summary>
    internal static readonly Option<int?> ThreadsOption = new("--threads")
    {
        Description = "libtorch threads (default: the cores this process may use, from its affinity and cgroup CPU quota)",
        Recursive = true,
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<int?>() is int n && n < 1)
                    r.AddError($"--threads must be at least 1, not {n}.");
            },
        },
    };

    public static int Main(string[] args)
    {
        if (WorksAtRealSize(args))
            FixMallocMmapThreshold();
        try
        {
            var parse = BuildRoot().Parse(args);
            CliErrors.Verbose = parse.GetValue(Verbose);
            if (parse.Errors.Count == 0 && parse.GetValue(ThreadsOption) is int threads)
                TorchThreads.Apply(threads, "--threads");
            return parse.Invoke();
        }
        catch (Exception e)
        {
            // A command's own errors are reported inside CliErrors.Run; this catches what escapes parsing and set-up.
            return CliErrors.Report(e);
        }
    }

    /// <summary>
    /// glibc raises its mmap threshold (up to 32 MiB) each time a large block is freed, after which multi-MB tensors come
    /// from heap arenas that are not given back: `mpo bench scale` measured a full-depth InternVL2-1B LoRA step peaking at
    /// 8.0 GiB and holding 6.9 GiB after the step this way, against 5.3 GiB and 4.0 GiB with the threshold fixed at 128 KiB
    /// (tensors of 128 KiB and more are then mapped and unmapped, as libtorch's CPU allocator expects). Linux/glibc only;
    /// an explicit MALLOC_MMAP_THRESHOLD_ in the environment wins. Not for the tiny-model commands (see
    /// <see cref="WorksAtRealSize"/>): their tensors of a few hundred KiB would all be mapped, zeroed and unmapped, which
    /// made the quickstart's base steps 1.9 times slower (688 against 370 steps in its first 100 s).
    /// </summary>
    private static void FixMallocMmapThreshold()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null)
            return;
        try
        {
            const int M_MMAP_THRESHOLD = -3;
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl has no mallopt): nothing to fix.
        }
    }

    /// <summary>Every command but the built-in tiny-model runs (quickstart, ablation, and the benchmarks other than scale).</summary>
    private static bool WorksAtRealSize(string[] args) => args.FirstOrDefault() switch
    {
        "quickstart" or "ablation" => false,
        "bench" => args.Skip(1).FirstOrDefault() is { } bench && bench.StartsWith("scale", StringComparison.Ordinal),
        _ => true,
    };

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);

    internal static RootCommand BuildRoot()
    {
        var root = new RootCommand("mpo: Mixed Preference Optimization for vision-language models on ML.NET and TorchSharp.");
        root.Options.Add(Verbose);
        root.Options.Add(ThreadsOption);
        root.Subcommands.Add(QuickstartCommand.Create());
        root.Subcommands.Add(QuickstartCommand.CreateAblation());
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(InitCommand.Create());
        root.Subcommands.Add(ScoreCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(BuildPairsCommand.Create());
        root.Subcommands.Add(MergePairsCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        return root;
    }
}
