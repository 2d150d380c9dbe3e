using System.Runtime.InteropServices;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>
/// Environment variables as native libraries see them. On Unix, .NET keeps its own copy of the environment:
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> never reaches the C library's <c>environ</c>,
/// which is what libgomp reads when it starts. So a variable meant for libtorch's OpenMP runtime is set in both.
/// </summary>
internal static partial class NativeEnvironment
{
    /// <summary>The value the C library sees (null when unset).</summary>
    public static string? Get(string name)
    {
        if (OperatingSystem.IsWindows())
            return Environment.GetEnvironmentVariable(name);
        var value = getenv(name);
        return value == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(value);
    }

    /// <summary>
    /// Sets <paramref name="name"/> to <paramref name="value"/> unless it is already set (in either copy); returns
    /// whether it was set here. Child processes started with Process.Start inherit it too.
    /// </summary>
    public static bool SetIfUnset(string name, string value)
    {
        if (!string.IsNullOrEmpty(Get(name)) || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(name)))
            return false;
        if (!OperatingSystem.IsWindows() && setenv(name, value, 0) != 0)
            return false;
        Environment.SetEnvironmentVariable(name, value);
        return true;
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr getenv(string name);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
