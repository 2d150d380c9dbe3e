using System.Text.Json;
using System.Text.Json.Nodes;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>
/// The output of a pair-construction job: one JSON object per line, appended and flushed as each source row is
/// finished, with the row's key on every line. A rerun reads the keys already present and skips those rows, so
/// an interrupted run loses at most the row in progress and a rerun ends with the same file as an uninterrupted
/// run. A row that produced no pair still leaves a marker line, so it is not redone either.
/// </summary>
internal sealed class PairJobLog : IDisposable
{
    private readonly StreamWriter _writer;

    public HashSet<string> DoneKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>The done markers (with their per-row counts) of every finished row, this run's and earlier runs'.</summary>
    public List<JsonObject> Markers { get; } = new();

    public string Path { get; }

    /// <summary>The settings line of the file, if it has one (<see cref="PairJobSettings"/>).</summary>
    public JsonObject? Settings { get; private set; }

    /// <summary>Opens (and repairs) the job file at <paramref name="path"/>, reading its settings line and finished rows.</summary>
    public PairJobLog(string path)
    {
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        if (File.Exists(path))
            RepairAndIndex(path);
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
    }

    /// <summary>Writes <paramref name="settings"/> as the file's first line: call it only on a file without settings or rows.</summary>
    public void StartWith(JsonObject settings)
    {
        _writer.Write(new JsonObject { [PairJobSettings.HeaderField] = settings.DeepClone() }.ToJsonString() + "\n");
        Settings = settings;
    }

    /// <summary>Reads the keys of complete rows; a last line cut by a kill (no newline, bad JSON) is dropped.</summary>
    private void RepairAndIndex(string path)
    {
        var text = File.ReadAllText(path);
        int lastNewline = text.LastIndexOf('\n');
        if (lastNewline < text.Length - 1)
            File.WriteAllText(path, text[..(lastNewline + 1)]);
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0)
                continue;
            var node = JsonNode.Parse(line)!.AsObject();
            if (node[PairJobSettings.HeaderField] is JsonObject written)
                Settings = written;
            else if (node["row_done"]?.GetValue<string>() is { } done)
            {
                DoneKeys.Add(done);
                Markers.Add(node);
            }
        }
    }

    /// <summary>Writes a row's lines followed by its done marker, as one append.</summary>
    public void Complete(string key, IEnumerable<JsonObject> lines, JsonObject? counts = null)
    {
        var options = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var block = new System.Text.StringBuilder();
        foreach (var line in lines)
        {
            line["key"] = key;
            block.Append(line.ToJsonString(options)).Append('\n');
        }
        var marker = counts ?? new JsonObject();
        marker["row_done"] = key;
        block.Append(marker.ToJsonString(options)).Append('\n');
        _writer.Write(block.ToString());
        DoneKeys.Add(key);
        Markers.Add(marker);
    }

    /// <summary>The lines of <paramref name="path"/> that are records (not done markers or the settings line).</summary>
    public static IEnumerable<JsonObject> Records(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(o => o["row_done"] is null && o[PairJobSettings.HeaderField] is null);

    public void Dispose() => _writer.Dispose();
}
