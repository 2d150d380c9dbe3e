using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>Who holds an output lock: the facts a refused run prints.</summary>
/// <param name="ProcessId">The holder's process id.</param>
/// <param name="Host">The machine it runs on.</param>
/// <param name="ProcessStart">When that process started (UTC): with the id, it tells a reused id from the holder.</param>
/// <param name="Acquired">When it took the lock (UTC).</param>
/// <param name="Command">Its command line, for the user to recognise it.</param>
public sealed record OutputLockHolder(
    [property: JsonPropertyName("pid")] int ProcessId,
    [property: JsonPropertyName("host")] string Host,
    [property: JsonPropertyName("process_start")] DateTime ProcessStart,
    [property: JsonPropertyName("acquired")] DateTime Acquired,
    [property: JsonPropertyName("command")] string Command)
{
    /// <summary>"process 4242 on host-a, started 2026-12-07 05:40:00Z (mpo train ...)".</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"process {ProcessId} on {Host}, started {ProcessStart:yyyy-MM-dd HH:mm:ss}Z, holding it since {Acquired:yyyy-MM-dd HH:mm:ss}Z ({Command})");
}

/// <summary>A second run wants an output that a live run is writing.</summary>
public sealed class OutputLockedException : IOException
{
    /// <summary>Creates the refusal.</summary>
    public OutputLockedException(string target, string lockFile, OutputLockHolder holder, bool holderOnOtherHost)
        : base($"{target} is being written by another run: {holder}. Wait for it to finish, or write elsewhere" +
               (holderOnOtherHost ? $"; that run is on another machine, so whether it is alive cannot be checked from here: if it is gone, delete {lockFile}." : "."))
    {
        Target = target;
        LockFile = lockFile;
        Holder = holder;
    }

    /// <summary>The folder or file that is locked.</summary>
    public string Target { get; }

    /// <summary>The lock file.</summary>
    public string LockFile { get; }

    /// <summary>The run that holds it.</summary>
    public OutputLockHolder Holder { get; }
}

/// <summary>
/// Keeps two runs from writing the same output (a training folder, a pair job file, an MMPR folder): the second is
/// refused at once with the holder's process id, host and start time. The lock is a small JSON file created with
/// CreateNew (atomic on local file systems) and deleted on Dispose; one left by a killed run names a process that
/// no longer exists (or whose id now belongs to a process started later), and is taken over, which
/// <see cref="TakenOverFrom"/> reports so the caller can say so.
/// </summary>
/// <remarks>
/// The same process may take the same lock again (a trainer inside a command that already holds it): the lock is
/// counted and released with the last holder. A lock written on another host cannot be checked and is honoured.
/// </remarks>
internal sealed class OutputLock : IDisposable
{
    /// <summary>The lock file inside a locked folder.</summary>
    public const string FolderLockName = ".mpo.lock";

    private static readonly Dictionary<string, int> HeldHere = new(StringComparer.Ordinal);
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    private bool _released;

    private OutputLock(string lockFile, OutputLockHolder? takenOverFrom)
    {
        LockFile = lockFile;
        TakenOverFrom = takenOverFrom;
    }

    /// <summary>The lock file.</summary>
    public string LockFile { get; }

    /// <summary>The dead run whose lock this one replaced, or null.</summary>
    public OutputLockHolder? TakenOverFrom { get; }

    /// <summary>A line for the log when a dead run's lock was taken over, else null.</summary>
    public string? TakeOverNotice => TakenOverFrom is null ? null
        : $"Took over the lock {LockFile} left by a run that no longer exists ({TakenOverFrom}); its output is resumed or replaced as usual.";

    /// <summary>Locks the folder <paramref name="folder"/> (created if missing) with a lock file inside it.</summary>
    public static OutputLock ForFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        var full = Path.GetFullPath(folder);
        Directory.CreateDirectory(full);
        return Acquire(full, Path.Combine(full, FolderLockName));
    }

    /// <summary>Locks the file <paramref name="path"/> with a lock file beside it (<c>path.lock</c>).</summary>
    public static OutputLock ForFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        return Acquire(full, full + ".lock");
    }

    private static OutputLock Acquire(string target, string lockFile)
    {
        lock (HeldHere)
        {
            if (HeldHere.TryGetValue(lockFile, out int count))
            {
                HeldHere[lockFile] = count + 1;
                return new OutputLock(lockFile, null);
            }
            OutputLockHolder? stale = null;
            for (int attempt = 0; ; attempt++)
            {
                if (TryCreate(lockFile))
                {
                    HeldHere[lockFile] = 1;
                    return new OutputLock(lockFile, stale);
                }
                var holder = ReadHolder(lockFile);
                if (holder is null)
                {
                    // Created but not yet written by a run starting this instant, or torn by a kill between the two:
                    // wait a moment for the writer, then treat an empty file as a dead run's.
                    if (attempt < 20)
                    {
                        Thread.Sleep(50);
                        continue;
                    }
                    holder = new OutputLockHolder(0, "unknown", DateTime.MinValue, File.GetLastWriteTimeUtc(lockFile), "an empty lock file");
                }
                else
                {
                    bool otherHost = !string.Equals(holder.Host, Environment.MachineName, StringComparison.OrdinalIgnoreCase);
                    if (otherHost || IsAlive(holder))
                        throw new OutputLockedException(target, lockFile, holder, otherHost);
                }
                if (attempt >= 40)
                    throw new IOException($"Cannot take the lock {lockFile} for {target}: it keeps reappearing.");
                stale = holder;
                File.Delete(lockFile);
            }
        }
    }

    private static bool TryCreate(string lockFile)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(lockFile, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        }
        catch (IOException) when (File.Exists(lockFile))
        {
            return false;
        }
        using (stream)
        {
            using var self = Process.GetCurrentProcess();
            var holder = new OutputLockHolder(Environment.ProcessId, Environment.MachineName, self.StartTime.ToUniversalTime(), DateTime.UtcNow,
                Environment.CommandLine.Length > 300 ? Environment.CommandLine[..300] + "…" : Environment.CommandLine);
            JsonSerializer.Serialize(stream, holder, Json);
            stream.Flush(flushToDisk: true);
        }
        return true;
    }

    private static OutputLockHolder? ReadHolder(string lockFile)
    {
        try
        {
            var text = File.ReadAllText(lockFile);
            return text.Length == 0 ? null : JsonSerializer.Deserialize<OutputLockHolder>(text, Json);
        }
        catch (Exception e) when (e is JsonException or FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Whether the holder's process still runs: its id exists and was started when the lock says.</summary>
    private static bool IsAlive(OutputLockHolder holder)
    {
        try
        {
            using var process = Process.GetProcessById(holder.ProcessId);
            if (process.HasExited)
                return false;
            // A reused id belongs to a process started after the holder; a second's slack absorbs clock rounding.
            return Math.Abs((process.StartTime.ToUniversalTime() - holder.ProcessStart).TotalSeconds) < 2;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Releases the lock (deletes the file when this process's last holder lets go).</summary>
    public void Dispose()
    {
        if (_released)
            return;
        _released = true;
        lock (HeldHere)
        {
            if (!HeldHere.TryGetValue(LockFile, out int count))
                return;
            if (count > 1)
            {
                HeldHere[LockFile] = count - 1;
                return;
            }
            HeldHere.Remove(LockFile);
            try
            {
                File.Delete(LockFile);
            }
            catch (IOException)
            {
                // The output is complete; a lock file that cannot be deleted is taken over by the next run.
            }
        }
    }
}
