namespace Microsoft.ML.Preference.Runtime;

/// <summary>
/// Whether this CPU multiplies bfloat16 matrices in hardware. Without AVX512-BF16 or AMX-BF16, libtorch's CPU bf16
/// matmul falls back to a scalar loop: a bf16 step of `mpo bench scale` (InternVL2-1B width, 1 layer, 1k tokens)
/// did not finish in 12 minutes where float32 took about 2 (docs/experiments/real-sizes.md). InternVL's recipes use bf16 on GPUs, where it is fast.
/// </summary>
internal static class CpuBf16Support
{
    private static readonly Lazy<bool?> Fast = new(Read);

    /// <summary>True or false from /proc/cpuinfo's flags on Linux; null where they cannot be read (not known).</summary>
    public static bool? HasFastBf16Matmul => Fast.Value;

    /// <summary>The warning a CPU run in bf16 deserves on this machine, or null.</summary>
    public static string? SlowBf16Warning(string optionName) => HasFastBf16Matmul == false
        ? $"{optionName} is bfloat16 on a CPU without bf16 matrix instructions (AVX512-BF16 / AMX-BF16): libtorch multiplies bf16 " +
          "matrices there with a scalar loop, many times slower than float32. Use float32 on this CPU (the recipes' bf16 is for GPUs)."
        : null;

    internal static bool? ParseFlags(string cpuinfo)
    {
        foreach (var line in cpuinfo.Split('\n'))
        {
            if (!line.StartsWith("flags", StringComparison.Ordinal))
                continue;
            var flags = line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return flags.Contains("avx512_bf16") || flags.Contains("amx_bf16");
        }
        return null;
    }

    private static bool? Read()
    {
        try
        {
            return OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo") ? ParseFlags(File.ReadAllText("/proc/cpuinfo")) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
