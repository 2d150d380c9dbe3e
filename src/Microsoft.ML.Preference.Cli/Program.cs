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
        {
            FixMallocMmapThreshold();
            UseHugePagesForLargeTensors();
        }
        WidenRedirectedTables();
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

    /// <summary>
    /// THP_MEM_ALLOC_ENABLE=1 (unless the user set it): libtorch then backs every CPU allocation of 2 MiB or more with
    /// transparent huge pages. With the mmap threshold above, each large tensor of a step is fresh memory faulted in 4 KiB
    /// at a time, and faults cost about 8 µs on the machines this was measured on: `mpo bench scale --parts b --dtype
    /// float32 --layers 1 --tokens 1024 --steps 2` took 7.96 M faults and 44 s of system time, its step 44.0 s, against
    /// 0.39 M, 29 s and 39.9 s with it, at the same peak RSS (3.63 GiB). It also page-aligns every small allocation,
    /// so the tiny-model commands go without. libtorch reads the variable at its first allocation, which is later.
    /// </summary>
    private static void UseHugePagesForLargeTensors()
    {
        if (OperatingSystem.IsLinux())
            NativeEnvironment.SetIfUnset("THP_MEM_ALLOC_ENABLE", "1");
    }

    /// <summary>
    /// Spectre.Console draws tables 80 columns wide when the output is a file or a pipe (it cannot ask a terminal), which
    /// cut `mpo bench scale`'s 13 columns into slivers of 3 characters in logs. Redirected output gets the width in
    /// COLUMNS when set, else 240.
    /// </summary>
    private static void WidenRedirectedTables()
    {
        if (!Console.IsOutputRedirected)
            return;
        Spectre.Console.AnsiConsole.Profile.Width =
            int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out int columns) && columns >= 40 ? columns : 240;
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
