using System.Text.Json.Nodes;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>
/// The output of a pair-construction job: one JSON object per line, with the row's key on every line. A row is
/// committed atomically: its records and its done marker are written as one block and flushed, and only the marker
/// commits the records before it (<see cref="PairJobFile"/>). Opening a file cuts off whatever follows its last
/// committed row (the lines of a row that a kill, a full disk or a crash interrupted), so that row is redone and a
/// rerun ends with exactly the file an uninterrupted run writes. A row that produced no pair still leaves a marker,
/// so it is not redone either.
/// </summary>
internal sealed class PairJobLog : IDisposable
{
    private readonly FileStream _stream;

    public HashSet<string> DoneKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>The done markers (with their per-row counts) of every finished row, this run's and earlier runs'.</summary>
    public List<JsonObject> Markers { get; } = new();

    public string Path { get; }

    /// <summary>The settings line of the file, if it has one (<see cref="PairJobSettings"/>).</summary>
    public JsonObject? Settings { get; private set; }

    /// <summary>The job_done line's content, once every row given to the job is done.</summary>
    public JsonObject? Done { get; private set; }

    /// <summary>Bytes of an unfinished row that opening the file cut off (0 when the file ended on a finished row).</summary>
    public long DroppedBytes { get; }

    /// <summary>Opens (and repairs) the job file at <paramref name="path"/>, reading its settings line and finished rows.</summary>
    public PairJobLog(string path)
    {
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var file = PairJobFile.Read(path);
        Settings = file.Settings;
        Done = file.Done;
        foreach (var marker in file.Markers)
        {
            DoneKeys.Add(marker["row_done"]!.GetValue<string>());
            Markers.Add(marker);
        }
        _stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
        DroppedBytes = file.Length - file.CommittedLength;
        if (DroppedBytes > 0)
        {
            _stream.SetLength(file.CommittedLength);
            _stream.Flush(flushToDisk: true);
        }
        _stream.Seek(0, SeekOrigin.End);
    }

    /// <summary>Writes <paramref name="settings"/> as the file's first line: call it only on a file without settings or rows.</summary>
    public void StartWith(JsonObject settings)
    {
        Append(PairJobFile.Line(new JsonObject { [PairJobSettings.HeaderField] = settings.DeepClone() }));
        Settings = settings;
    }

    /// <summary>Writes a row's lines followed by its done marker, as one block.</summary>
    public void Complete(string key, IEnumerable<JsonObject> lines, JsonObject? counts = null)
    {
        var block = new System.Text.StringBuilder();
        foreach (var line in lines)
        {
            line["key"] = key;
            block.Append(PairJobFile.Line(line));
        }
        var marker = counts ?? new JsonObject();
        marker["row_done"] = key;
        block.Append(PairJobFile.Line(marker));
        Append(block.ToString());
        DoneKeys.Add(key);
        Markers.Add(marker);
    }

    /// <summary>Writes the job_done line: every row given to this job (or shard) is in the file.</summary>
    public void Finish(JsonObject done)
    {
        Append(PairJobFile.Line(new JsonObject { [PairJobFile.DoneField] = done.DeepClone() }));
        Done = done;
    }

    /// <summary>
    /// One write of the whole block, then a flush to the file. A write that fails (a full disk) leaves at most a part
    /// of the block, which the next open cuts off; the failed block is cut off at once as well, where the file allows.
    /// </summary>
    private void Append(string text)
    {
        var bytes = PairJobFile.Utf8.GetBytes(text);
        long before = _stream.Length;
        try
        {
            _stream.Write(bytes);
            _stream.Flush(flushToDisk: false);
        }
        catch (IOException)
        {
            try
            {
                _stream.SetLength(before);
            }
            catch (IOException)
            {
                // The next open cuts the partial block off.
            }
            throw;
        }
    }

    public void Dispose() => _stream.Dispose();
}
