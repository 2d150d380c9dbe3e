namespace Microsoft.ML.Preference.Runtime;

/// <summary>The process's resident memory, as the kernel reports it (Linux), for benchmarks and training logs.</summary>
internal static class ProcessMemory
{
    /// <summary>Peak resident set size in bytes (VmHWM), or the managed working set off Linux.</summary>
    public static long PeakResidentBytes() => ReadStatus("VmHWM:") ?? Environment.WorkingSet;

    /// <summary>Current resident set size in bytes (VmRSS), or the managed working set off Linux.</summary>
    public static long ResidentBytes() => ReadStatus("VmRSS:") ?? Environment.WorkingSet;

    private static long? ReadStatus(string field)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status))
            return null;
        foreach (var line in File.ReadLines(status))
        {
            if (!line.StartsWith(field, StringComparison.Ordinal))
                continue;
            var parts = line[field.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && long.TryParse(parts[0], out long kb))
                return kb * 1024;
        }
        return null;
    }
}
