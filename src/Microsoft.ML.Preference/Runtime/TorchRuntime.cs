using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>What <see cref="TorchRuntime.Initialize"/> found and did.</summary>
/// <param name="Outcome">Whether the native library needed, got or already had the compatibility patch.</param>
/// <param name="OriginalLibraryPath">libLibTorchSharp.so as shipped by the TorchSharp package (null off Linux).</param>
/// <param name="LoadedLibraryPath">The file that serves TorchSharp's native calls (the patched copy where one was needed).</param>
/// <param name="HostLibStdCxxPath">The libstdc++ the process uses.</param>
/// <param name="MissingHostVersions">libstdc++ versions the shipped library asks for and the host lacks.</param>
public sealed record TorchRuntimeStatus(
    NativePatchOutcome Outcome,
    string? OriginalLibraryPath,
    string? LoadedLibraryPath,
    string? HostLibStdCxxPath,
    IReadOnlyList<string> MissingHostVersions);

/// <summary>
/// Makes TorchSharp usable on hosts whose libstdc++ is older than the one its native library was built
/// against (Debian 12, Ubuntu 22.04). On such a host a patched copy of libLibTorchSharp.so is written to
/// a per-user cache folder (never the NuGet cache, the application folder or a system path) and handed to
/// TorchSharp through a DllImport resolver. On a host that is new enough, or off Linux, it does nothing.
/// </summary>
/// <remarks>
/// It runs by itself when this assembly loads, so any use of the package is covered. Code that calls
/// TorchSharp before touching this package should call <see cref="Initialize"/> first.
/// Set <c>MLPREFERENCE_NATIVE_CACHE</c> to choose the cache folder, or <c>MLPREFERENCE_TORCHSHARP_PATCH=0</c>
/// to turn the mechanism off.
/// <para>
/// Before anything loads libtorch it also sets OMP_WAIT_POLICY=PASSIVE in the native environment, unless the user set
/// it: libgomp reads the variable once, when it starts, and by default its idle threads spin for a while between
/// parallel regions, which starves any other process on the same cores (issue 21 measured a forward 5.8 times slower
/// beside one 2-thread torch process, 2.1 times with passive waiting). Then it sets libtorch's thread count to the cores this
/// process may use (<see cref="TorchThreads"/>).
/// </para>
/// </remarks>
public static class TorchRuntime
{
    internal const string NativeLibraryFile = "libLibTorchSharp.so";
    private const string TorchSharpImportName = "LibTorchSharp";

    private static readonly Lock Gate = new();
    private static TorchRuntimeStatus? _status;
    private static Exception? _failure;
    private static IntPtr _patchedHandle;

#pragma warning disable CA2255 // A library module initializer is the only hook that runs before a consumer's first TorchSharp call.
    [ModuleInitializer]
    internal static void InitializeOnLoad()
    {
        try
        {
            Initialize();
        }
        catch
        {
            // Remembered in _failure and rethrown, with its message, by the next explicit Initialize().
        }
    }
#pragma warning restore CA2255

    /// <summary>Prepares the native TorchSharp library for this host. Idempotent and thread-safe.</summary>
    /// <exception cref="InvalidOperationException">The library cannot be made to load here; the message says why.</exception>
    public static TorchRuntimeStatus Initialize()
    {
        lock (Gate)
        {
            if (_status is not null)
                return _status;
            if (_failure is not null)
                throw new InvalidOperationException(_failure.Message, _failure);
            try
            {
                _status = Prepare();
                return _status;
            }
            catch (Exception e)
            {
                _failure = e;
                throw new InvalidOperationException($"TorchSharp's native library could not be prepared for this host: {e.Message}", e);
            }
        }
    }

    /// <summary>Whether this process asked libgomp to wait passively (false: the user's OMP_WAIT_POLICY stands).</summary>
    public static bool SetPassiveWaitPolicy { get; private set; }

    private static TorchRuntimeStatus Prepare()
    {
        // Must precede the first load of libtorch (and with it libgomp), which the patch below or TorchSharp does.
        SetPassiveWaitPolicy = NativeEnvironment.SetIfUnset("OMP_WAIT_POLICY", "PASSIVE");
        var status = PrepareLibrary();
        ApplyDefaultThreads();
        return status;
    }

    private static void ApplyDefaultThreads()
    {
        if (!string.IsNullOrEmpty(NativeEnvironment.Get("OMP_NUM_THREADS")))
            return;
        try
        {
            torch.set_num_threads(CpuBudget.AvailableCores());
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            // libtorch itself cannot load: the first real TorchSharp call reports that with its own message.
        }
    }

    private static TorchRuntimeStatus PrepareLibrary()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MLPREFERENCE_TORCHSHARP_PATCH") == "0")
            return new TorchRuntimeStatus(NativePatchOutcome.NotNeeded, null, null, null, []);

        var original = FindShippedLibrary();
        if (original is null)
            return new TorchRuntimeStatus(NativePatchOutcome.NotNeeded, null, null, null, []);

        var hostLibStdCxx = FindHostLibStdCxx();
        if (hostLibStdCxx is null)
            return new TorchRuntimeStatus(NativePatchOutcome.NotNeeded, original, original, null, []);

        var hostVersions = ElfImage.Load(hostLibStdCxx).VersionDefinitions();
        var image = ElfImage.Load(original);
        var missing = LibStdCxxCompatibilityPatch.MissingVersions(image, hostVersions).Select(n => n.Name).ToList();
        var outcome = LibStdCxxCompatibilityPatch.Apply(image, hostVersions);
        if (outcome == NativePatchOutcome.NotNeeded)
            return new TorchRuntimeStatus(outcome, original, original, hostLibStdCxx, missing);

        string patched = WritePatchedCopy(original, image.Bytes);
        _patchedHandle = NativeLibrary.Load(patched);
        Redirect(typeof(torch).Assembly);
        return new TorchRuntimeStatus(outcome, original, patched, hostLibStdCxx, missing);
    }

    /// <summary>The folder patched copies go to: MLPREFERENCE_NATIVE_CACHE, else XDG_CACHE_HOME, else ~/.cache.</summary>
    public static string CacheRoot
    {
        get
        {
            var explicitRoot = Environment.GetEnvironmentVariable("MLPREFERENCE_NATIVE_CACHE");
            if (!string.IsNullOrWhiteSpace(explicitRoot))
                return explicitRoot;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            var baseDir = !string.IsNullOrWhiteSpace(xdg) ? xdg
                : !string.IsNullOrWhiteSpace(home) ? Path.Combine(home, ".cache")
                : Path.GetTempPath();
            return Path.Combine(baseDir, "Microsoft.ML.Preference", "native");
        }
    }

    /// <summary>
    /// Writes the patched bytes beside symbolic links to the library's neighbours (libtorch.so, libc10.so, ...),
    /// so that its $ORIGIN run path finds the very files TorchSharp loads: one copy of libtorch per process.
    /// </summary>
    internal static string WritePatchedCopy(string original, byte[] patchedBytes)
    {
        var sourceDir = Path.GetDirectoryName(Path.GetFullPath(original))!;
        var key = Hex(SHA256.HashData(patchedBytes))[..16] + "-" + Hex(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(sourceDir)))[..8];
        var dir = Path.Combine(CacheRoot, key);
        Directory.CreateDirectory(dir);

        foreach (var neighbour in NeighbourLibraries(sourceDir))
            EnsureSymlink(Path.Combine(dir, Path.GetFileName(neighbour)), neighbour);

        var target = Path.Combine(dir, NativeLibraryFile);
        if (!File.Exists(target) || !File.ReadAllBytes(target).AsSpan().SequenceEqual(patchedBytes))
        {
            var temp = target + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllBytes(temp, patchedBytes);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                       UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            File.Move(temp, target, overwrite: true);
        }
        return target;
    }

    /// <summary>libtorch's libraries may sit beside ours (published apps) or in their own package folder (dotnet run/test).</summary>
    private static IEnumerable<string> NeighbourLibraries(string sourceDir)
    {
        var dirs = new List<string> { sourceDir };
        var torchCpu = FindInNativeSearchPath("libtorch_cpu.so");
        if (torchCpu is not null)
            dirs.Add(Path.GetDirectoryName(torchCpu)!);
        return dirs.Distinct(StringComparer.Ordinal)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.so*"))
            .Where(f => Path.GetFileName(f) != NativeLibraryFile)
            .GroupBy(Path.GetFileName)
            .Select(g => g.First());
    }

    private static void EnsureSymlink(string link, string target)
    {
        var info = new FileInfo(link);
        if (info.LinkTarget == target)
            return;
        try
        {
            if (info.Exists || info.LinkTarget is not null)
                File.Delete(link);
            File.CreateSymbolicLink(link, target);
        }
        catch (IOException) when (new FileInfo(link).LinkTarget == target)
        {
            // Another process made the same link at the same time.
        }
    }

    private static void Redirect(Assembly torchSharp)
    {
        try
        {
            NativeLibrary.SetDllImportResolver(torchSharp, (name, _, _) =>
                name == TorchSharpImportName || name == NativeLibraryFile ? _patchedHandle : IntPtr.Zero);
        }
        catch (InvalidOperationException)
        {
            // Someone else owns TorchSharp's resolver: the load-context event still runs after the
            // default probe fails, which it does for the unpatched library on this host.
            System.Runtime.Loader.AssemblyLoadContext.Default.ResolvingUnmanagedDll += (assembly, name) =>
                assembly == torchSharp && name == TorchSharpImportName ? _patchedHandle : IntPtr.Zero;
        }
    }

    private static string? FindShippedLibrary() => FindInNativeSearchPath(NativeLibraryFile);

    internal static string? FindInNativeSearchPath(string fileName)
    {
        var dirs = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirs)
            dirs.AddRange(searchDirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        var torchDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (!string.IsNullOrEmpty(torchDir))
        {
            dirs.Add(torchDir);
            dirs.Add(Path.Combine(torchDir, "runtimes", "linux-x64", "native"));
        }
        dirs.Add(AppContext.BaseDirectory);
        dirs.Add(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native"));
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, fileName);
            if (File.Exists(candidate))
                return Path.GetFullPath(candidate);
        }
        return null;
    }

    /// <summary>The libstdc++.so.6 the dynamic loader gives this process (LD_LIBRARY_PATH and all).</summary>
    internal static string? FindHostLibStdCxx()
    {
        if (!NativeLibrary.TryLoad("libstdc++.so.6", out _))
            return null;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            int slash = line.IndexOf('/');
            if (slash < 0)
                continue;
            var path = line[slash..].Trim();
            if (Path.GetFileName(path).StartsWith("libstdc++.so", StringComparison.Ordinal))
                return path;
        }
        return null;
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
