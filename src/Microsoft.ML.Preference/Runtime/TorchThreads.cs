using TorchSharp;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>
/// libtorch's intra-op thread count. By default the package runs one thread per core this process may use
/// (scheduler affinity and cgroup CPU quota, see <see cref="CpuBudget"/>) rather than libtorch's own default,
/// the machine's core count; OMP_NUM_THREADS, when set, is left to libtorch.
/// </summary>
public static class TorchThreads
{
    /// <summary>The thread count the package chooses when none is asked for: the cores this process may use.</summary>
    public static int Automatic => CpuBudget.AvailableCores();

    /// <summary>
    /// Sets libtorch's intra-op thread count: <paramref name="threads"/> when above 0, else <see cref="Automatic"/>
    /// (or OMP_NUM_THREADS when the user set it). Returns the count now in force.
    /// </summary>
    /// <param name="threads">Threads to run; 0 = automatic.</param>
    /// <param name="optionName">The option that carried the value, named in the error.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is negative.</exception>
    public static int Apply(int threads, string optionName = "threads")
    {
        if (threads < 0)
            throw new ArgumentOutOfRangeException(optionName, threads, $"{optionName} must be 0 (automatic: the cores this process may use) or positive, not {threads}.");
        TorchRuntime.Initialize();
        if (threads == 0 && !string.IsNullOrEmpty(NativeEnvironment.Get("OMP_NUM_THREADS")))
            return torch.get_num_threads();
        torch.set_num_threads(threads > 0 ? threads : Automatic);
        return torch.get_num_threads();
    }
}
