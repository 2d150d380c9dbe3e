using System.Diagnostics;
using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Tests.Runtime;

public class TorchRuntimeTests
{
    private static string ShippedLibrary =>
        TorchRuntime.FindInNativeSearchPath(TorchRuntime.NativeLibraryFile)
        ?? throw new InvalidOperationException("libLibTorchSharp.so is not beside the test assembly");

    private static readonly IReadOnlySet<string> DebianTwelveVersions = ElfVersionsOf("GLIBCXX_3.4", 30);

    /// <summary>The GLIBCXX_3.4 ... GLIBCXX_3.4.N and CXXABI names a libstdc++ of that age defines.</summary>
    private static HashSet<string> ElfVersionsOf(string prefix, int newest)
    {
        var set = new HashSet<string> { prefix };
        for (int i = 1; i <= newest; i++)
            set.Add($"{prefix}.{i}");
        for (int i = 1; i <= 13; i++)
            set.Add($"CXXABI_1.3.{i}");
        set.Add("CXXABI_1.3");
        return set;
    }

    [Fact]
    public void ShippedLibraryNeedsOnlyTheOneNeverCalledSymbolFromGlibcxx_3_4_32()
    {
        var image = ElfImage.Load(ShippedLibrary);
        var missing = LibStdCxxCompatibilityPatch.MissingVersions(image, DebianTwelveVersions);
        Assert.Equal(["GLIBCXX_3.4.32"], missing.Select(m => m.Name));
        var bound = image.DynamicSymbols().Where(s => (s.VersionIndex & 0x7fff) == missing[0].Index).Select(s => s.Name);
        Assert.Equal(["_ZSt21ios_base_library_initv"], bound);
    }

    [Fact]
    public void PatchIsIdempotent()
    {
        var bytes = File.ReadAllBytes(ShippedLibrary);
        var first = ElfImage.Parse(bytes, "copy");
        Assert.Equal(NativePatchOutcome.Patched, LibStdCxxCompatibilityPatch.Apply(first, DebianTwelveVersions));
        var once = (byte[])first.Bytes.Clone();

        var second = ElfImage.Parse(once, "copy");
        Assert.Equal(NativePatchOutcome.AlreadyPatched, LibStdCxxCompatibilityPatch.Apply(second, DebianTwelveVersions));
        Assert.Equal(once, second.Bytes);

        // Exactly two 16-bit fields change: the versym slot and the vna_flags of the need.
        var original = File.ReadAllBytes(ShippedLibrary);
        var changedBytes = Enumerable.Range(0, original.Length).Count(i => original[i] != once[i]);
        Assert.InRange(changedBytes, 3, 10);

        // The need is gone from the chain; every other libstdc++ need is still there, unchanged.
        var before = ElfImage.Parse(original, "orig").VersionNeeds().Select(n => (n.File, n.Name, n.Index)).ToList();
        var after = ElfImage.Parse(once, "copy").VersionNeeds().Select(n => (n.File, n.Name, n.Index)).ToList();
        Assert.Equal(before.Where(n => n.Name != "GLIBCXX_3.4.32"), after);
    }

    [Fact]
    public void HostWithNewEnoughLibStdCxxIsLeftAlone()
    {
        var bytes = File.ReadAllBytes(ShippedLibrary);
        var image = ElfImage.Parse(bytes, "copy");
        var modernHost = ElfVersionsOf("GLIBCXX_3.4", 33);
        Assert.Equal(NativePatchOutcome.NotNeeded, LibStdCxxCompatibilityPatch.Apply(image, modernHost));
        Assert.Equal(File.ReadAllBytes(ShippedLibrary), image.Bytes);
    }

    [Fact]
    public void AMissingVersionUsedByARealSymbolIsRefused()
    {
        var image = ElfImage.Parse(File.ReadAllBytes(ShippedLibrary), "copy");
        // A host that is even older: GLIBCXX_3.4.30 symbols (condition_variable::wait) would really be called.
        var ancient = ElfVersionsOf("GLIBCXX_3.4", 29);
        var e = Assert.Throws<NotSupportedException>(() => LibStdCxxCompatibilityPatch.Apply(image, ancient));
        Assert.Contains("GLIBCXX_3.4.30", e.Message);
        Assert.Contains("copy", e.Message);
    }

    [Fact]
    public void TruncatedElfIsAClearError()
    {
        var bytes = File.ReadAllBytes(ShippedLibrary)[..4096];
        var e = Assert.Throws<InvalidDataException>(() => ElfImage.Parse(bytes, "truncated.so").VersionNeeds());
        Assert.Contains("truncated.so", e.Message);
        Assert.Throws<InvalidDataException>(() => ElfImage.Parse("not an elf at all"u8.ToArray(), "text.so"));
    }

    [Fact]
    public void RuntimeMatchesThisHost()
    {
        var status = TorchRuntime.Initialize();
        var host = ElfImage.Load(TorchRuntime.FindHostLibStdCxx()!).VersionDefinitions();
        if (host.Contains("GLIBCXX_3.4.32"))
        {
            Assert.Equal(NativePatchOutcome.NotNeeded, status.Outcome);
            Assert.Equal(status.OriginalLibraryPath, status.LoadedLibraryPath);
        }
        else
        {
            Assert.Equal(NativePatchOutcome.Patched, status.Outcome);
            Assert.Equal(["GLIBCXX_3.4.32"], status.MissingHostVersions);
            Assert.NotEqual(status.OriginalLibraryPath, status.LoadedLibraryPath);
            Assert.StartsWith(TorchRuntime.CacheRoot, status.LoadedLibraryPath);
            // The process really serves TorchSharp from the patched copy, and only from it.
            var maps = File.ReadAllText("/proc/self/maps");
            Assert.Contains(status.LoadedLibraryPath!, maps);
            Assert.DoesNotContain(status.OriginalLibraryPath!, maps);
            // The shipped file itself was not touched.
            Assert.Equal(NativePatchOutcome.Patched,
                LibStdCxxCompatibilityPatch.Apply(ElfImage.Load(status.OriginalLibraryPath!), host));
        }
    }

    [Fact]
    public void LoadedCopyHasNoMissingLibraryOrVersionUnderLdd()
    {
        var status = TorchRuntime.Initialize();
        var psi = new ProcessStartInfo("ldd", ["-r", status.LoadedLibraryPath!]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.DoesNotContain("not found", output);
        Assert.Contains("libtorch_cpu.so", output);
    }

    [Fact]
    public void ForwardBackwardAndOptimiserRunOnCpu()
    {
        var report = TorchSelfCheck.Run("cpu", steps: 30, seed: 0);
        Assert.Equal("cpu", report.Device);
        Assert.True(report.FirstGradientNorm > 0);
        Assert.True(report.FinalLoss < report.InitialLoss * 0.7, $"loss {report.InitialLoss} -> {report.FinalLoss}");
        Assert.True(report.Learned);
    }

    [Fact]
    public void DeviceOptionErrorsNameTheOption()
    {
        var e = Assert.Throws<ArgumentException>(() => TorchDevices.Resolve("gpu0", "MpoTrainer.Options.Device"));
        Assert.Contains("MpoTrainer.Options.Device", e.Message);
        Assert.Equal("cpu", TorchDevices.Resolve("cpu").ToString());
    }
}
