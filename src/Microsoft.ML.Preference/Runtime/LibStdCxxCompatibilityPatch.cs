namespace Microsoft.ML.Preference.Runtime;

/// <summary>What <see cref="LibStdCxxCompatibilityPatch.Apply"/> did to a library image.</summary>
public enum NativePatchOutcome
{
    /// <summary>The host's libstdc++ defines every version the library needs: nothing was changed.</summary>
    NotNeeded,

    /// <summary>The library was patched so that it loads on the host.</summary>
    Patched,

    /// <summary>The library had already been patched: nothing was changed.</summary>
    AlreadyPatched,
}

/// <summary>
/// TorchSharp 0.107's libLibTorchSharp.so is built with GCC 13 and so asks for GLIBCXX_3.4.32, which
/// Debian 12 and Ubuntu 22.04 (GCC 12 runtimes, GLIBCXX_3.4.30) lack. The only symbol bound to that
/// version is <c>std::ios_base_library_init()</c>, which GCC 13's &lt;iostream&gt; references to force
/// the iostream initialiser to link in but never calls. Unbinding that symbol from the version and
/// dropping the (weakened) version requirement lets the dynamic loader accept the library, and leaves
/// ldd with nothing to report; no other byte changes.
/// Any other missing version, or any other symbol bound to a missing one, is refused: that would be
/// a real incompatibility, not a link-time artefact.
/// </summary>
internal static class LibStdCxxCompatibilityPatch
{
    /// <summary>Symbols that are referenced but never called, so their version may be dropped.</summary>
    internal static readonly IReadOnlySet<string> NeverCalledSymbols =
        new HashSet<string>(StringComparer.Ordinal) { "_ZSt21ios_base_library_initv" };

    /// <summary>The libstdc++ versions the library needs and the host does not define.</summary>
    public static IReadOnlyList<ElfImage.VersionNeed> MissingVersions(ElfImage library, IReadOnlySet<string> hostVersions) =>
        library.VersionNeeds()
            .Where(n => n.File.StartsWith("libstdc++", StringComparison.Ordinal) && !hostVersions.Contains(n.Name))
            .ToList();

    /// <summary>
    /// Makes <paramref name="library"/> loadable against a libstdc++ that defines
    /// <paramref name="hostVersions"/>, editing its bytes in place. Idempotent.
    /// </summary>
    /// <exception cref="NotSupportedException">A missing version is used by a symbol that may be called.</exception>
    public static NativePatchOutcome Apply(ElfImage library, IReadOnlySet<string> hostVersions)
    {
        var missing = MissingVersions(library, hostVersions);
        if (missing.Count == 0)
            return IsPatched(library) ? NativePatchOutcome.AlreadyPatched : NativePatchOutcome.NotNeeded;

        var symbols = library.DynamicSymbols();
        foreach (var need in missing)
        {
            var bound = symbols.Where(s => (s.VersionIndex & 0x7fff) == need.Index).ToList();
            var blocking = bound.Where(s => s.IsDefined || !NeverCalledSymbols.Contains(s.Name)).Select(s => s.Name).ToList();
            if (blocking.Count > 0)
                throw new NotSupportedException(
                    $"{library.Path} needs {need.Name} from {need.File}, which this host's libstdc++ does not define, " +
                    $"for symbols that may be called ({string.Join(", ", blocking.Take(5))}). Install a newer libstdc++ " +
                    "(GCC 13 or later runtime) or use a TorchSharp build made for this distribution.");
            foreach (var s in bound)
                library.ClearVersion(s);
            library.RemoveNeed(need);
        }
        return NativePatchOutcome.Patched;
    }

    /// <summary>A never-called symbol that the shipped library binds to a version, found unversioned.</summary>
    private static bool IsPatched(ElfImage library) =>
        library.DynamicSymbols().Any(s => !s.IsDefined && NeverCalledSymbols.Contains(s.Name) && s.VersionIndex == ElfImage.VersymGlobal);
}
