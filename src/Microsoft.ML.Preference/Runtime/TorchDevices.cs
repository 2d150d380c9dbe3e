using TorchSharp;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>Turns a device option ("auto", "cpu", "cuda", "cuda:1") into a TorchSharp device.</summary>
public static class TorchDevices
{
    /// <summary>
    /// Resolves <paramref name="spec"/>. "auto" picks CUDA when this build and machine have it, else CPU.
    /// </summary>
    /// <param name="spec">The option value.</param>
    /// <param name="optionName">The option's name, quoted in error messages.</param>
    /// <exception cref="ArgumentException">The spec is malformed, or names a device this build or machine lacks.</exception>
    public static torch.Device Resolve(string spec, string optionName = "Device")
    {
        TorchRuntime.Initialize();
        var s = (spec ?? "").Trim().ToLowerInvariant();
        if (s is "" or "auto")
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        if (s == "cpu")
            return torch.CPU;
        if (s == "cuda" || s.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw new ArgumentException(
                    $"{optionName} = '{spec}' asks for CUDA, but this process has no CUDA device or was built with the CPU backend. " +
                    "Build with -p:TorchBackend=cuda on a machine with an NVIDIA driver, or use 'cpu'.", optionName);
            if (s == "cuda")
                return torch.CUDA;
            if (!int.TryParse(s.AsSpan(5), out int index) || index < 0 || index >= torch.cuda.device_count())
                throw new ArgumentException($"{optionName} = '{spec}': CUDA device index must be 0..{torch.cuda.device_count() - 1}.", optionName);
            return new torch.Device(DeviceType.CUDA, index);
        }
        throw new ArgumentException($"{optionName} = '{spec}' is not a device: use 'auto', 'cpu', 'cuda' or 'cuda:N'.", optionName);
    }
}
