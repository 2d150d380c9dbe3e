using System.Globalization;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>
/// How many cores this process may actually use: the CPUs its scheduler affinity allows, capped by a cgroup CPU
/// quota (v2 <c>cpu.max</c>, or v1 <c>cpu.cfs_quota_us / cpu.cfs_period_us</c>) of its own cgroup or any ancestor,
/// rounded up. libtorch's default intra-op thread count is the machine's core count, which oversubscribes a
/// container limited to fewer cores: every extra thread then waits for a time slice at each parallel region.
/// </summary>
internal static partial class CpuBudget
{
    /// <summary>The cores available to this process (at least 1).</summary>
    public static int AvailableCores()
    {
        int cores = AffinityCount() ?? Environment.ProcessorCount;
        if (OperatingSystem.IsLinux())
        {
            try
            {
                var quota = CgroupQuota(File.ReadAllLines("/proc/self/cgroup"), "/sys/fs/cgroup", File.Exists, File.ReadAllText);
                if (quota is double q)
                    cores = Math.Min(cores, QuotaCores(q));
            }
            catch (IOException)
            {
                // No readable cgroup files (unusual sandboxes): the affinity alone decides.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return Math.Max(1, cores);
    }

    /// <summary>A quota of <paramref name="cpus"/> CPUs as a thread count: rounded up, so 1.5 CPUs run 2 threads.</summary>
    internal static int QuotaCores(double cpus) => Math.Max(1, (int)Math.Ceiling(cpus - 1e-9));

    /// <summary>
    /// The tightest CPU quota (in CPUs) over this process's cgroup and its ancestors, or null when there is none.
    /// <paramref name="procSelfCgroup"/> are the lines of /proc/self/cgroup; files are read through the delegates so
    /// that the rules can be tested against written-out hierarchies.
    /// </summary>
    internal static double? CgroupQuota(IEnumerable<string> procSelfCgroup, string root, Func<string, bool> exists, Func<string, string> read)
    {
        double? best = null;
        void Take(double? q)
        {
            if (q is double v && (best is null || v < best))
                best = v;
        }
        foreach (var line in procSelfCgroup)
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3)
                continue;
            var path = parts[2].Trim();
            if (parts[0] == "0" && parts[1].Length == 0)
            {
                foreach (var dir in SelfAndAncestors(root, path))
                {
                    var file = Path.Combine(dir, "cpu.max");
                    if (exists(file))
                        Take(ParseCpuMax(read(file)));
                }
            }
            else if (parts[1].Split(',').Contains("cpu"))
            {
                // cgroup v1: the cpu controller is mounted as cpu, cpu,cpuacct or cpuacct,cpu.
                foreach (var mount in new[] { "cpu", "cpu,cpuacct", "cpuacct,cpu" })
                    foreach (var dir in SelfAndAncestors(Path.Combine(root, mount), path))
                    {
                        string quota = Path.Combine(dir, "cpu.cfs_quota_us"), period = Path.Combine(dir, "cpu.cfs_period_us");
                        if (exists(quota) && exists(period))
                            Take(ParseCfs(read(quota), read(period)));
                    }
            }
        }
        return best;
    }

    /// <summary>cgroup v2 cpu.max: "max 100000" (no limit) or "150000 100000" (1.5 CPUs).</summary>
    internal static double? ParseCpuMax(string text)
    {
        var fields = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 1 || fields[0] == "max")
            return null;
        long period = fields.Length > 1 && long.TryParse(fields[1], CultureInfo.InvariantCulture, out long p) ? p : 100_000;
        return long.TryParse(fields[0], CultureInfo.InvariantCulture, out long quota) && quota > 0 && period > 0 ? (double)quota / period : null;
    }

    /// <summary>cgroup v1: a quota of -1 means no limit.</summary>
    internal static double? ParseCfs(string quotaText, string periodText) =>
        long.TryParse(quotaText.Trim(), CultureInfo.InvariantCulture, out long quota) && quota > 0
        && long.TryParse(periodText.Trim(), CultureInfo.InvariantCulture, out long period) && period > 0
            ? (double)quota / period : null;

    private static IEnumerable<string> SelfAndAncestors(string root, string cgroupPath)
    {
        var relative = cgroupPath.Trim('/');
        while (true)
        {
            yield return relative.Length == 0 ? root : Path.Combine(root, relative);
            if (relative.Length == 0)
                yield break;
            int slash = relative.LastIndexOf('/');
            relative = slash < 0 ? "" : relative[..slash];
        }
    }

    /// <summary>The number of CPUs in this process's scheduler affinity mask (Linux), else null.</summary>
    private static unsafe int? AffinityCount()
    {
        if (!OperatingSystem.IsLinux())
            return null;
        const int bytes = 1024; // room for 8192 CPUs
        byte* mask = stackalloc byte[bytes];
        try
        {
            if (sched_getaffinity(0, bytes, mask) != 0)
                return null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
        int count = 0;
        for (int i = 0; i < bytes; i++)
            count += System.Numerics.BitOperations.PopCount(mask[i]);
        return count > 0 ? count : null;
    }

    [LibraryImport("libc")]
    private static unsafe partial int sched_getaffinity(int pid, nuint size, byte* mask);
}
