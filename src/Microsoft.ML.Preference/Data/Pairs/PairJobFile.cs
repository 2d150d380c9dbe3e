using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>
/// The committed content of a pair job file. A row's records are followed by its done marker (<c>row_done</c>), and
/// only the marker commits them: whatever follows the last marker (the records of a row whose writing was cut by a
/// kill, a full disk or a crash, whole lines included) is not part of the job. <see cref="CommittedLength"/> says
/// where the committed part ends, so a writer can cut the rest off and redo that row; a reader simply ignores it.
/// </summary>
internal sealed class PairJobFile
{
    /// <summary>The field of the line written when every row of the job (or shard) is done.</summary>
    public const string DoneField = "job_done";

    private PairJobFile(string path) => Path = path;

    public string Path { get; }

    /// <summary>The settings line, if the file has one (<see cref="PairJobSettings"/>).</summary>
    public JsonObject? Settings { get; private set; }

    /// <summary>The done markers of the committed rows, in file order.</summary>
    public List<JsonObject> Markers { get; } = [];

    /// <summary>The committed records (pairs, format failures), in file order.</summary>
    public List<JsonObject> Records { get; } = [];

    /// <summary>The <c>job_done</c> line's content when the job finished every row it was given.</summary>
    public JsonObject? Done { get; private set; }

    /// <summary>Bytes of the file that are committed; anything beyond is an unfinished row.</summary>
    public long CommittedLength { get; private set; }

    /// <summary>Bytes of the file in total when it was read.</summary>
    public long Length { get; private set; }

    /// <summary>Reads <paramref name="path"/>; a file that does not exist reads as an empty job.</summary>
    /// <exception cref="InvalidDataException">A line before the last committed one is not JSON (file:line).</exception>
    public static PairJobFile Read(string path)
    {
        var file = new PairJobFile(path);
        if (!File.Exists(path))
            return file;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        file.Length = stream.Length;
        var pending = new List<JsonObject>();
        long offset = 0;
        int lineNumber = 0;
        (int Line, string Problem)? broken = null;
        foreach (var (bytes, complete) in Utf8Lines.RawLines(stream))
        {
            lineNumber++;
            offset += bytes.Length + (complete ? 1 : 0);
            if (!complete)
                break; // a last line without its newline was cut mid-write
            if (bytes.Length == 0)
                continue;
            JsonObject node;
            try
            {
                node = JsonNode.Parse(bytes)?.AsObject() ?? throw new JsonException("null");
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                broken ??= (lineNumber, e.Message);
                continue;
            }
            bool commits = true;
            if (node[PairJobSettings.HeaderField] is JsonObject settings)
                file.Settings = settings;
            else if (node[DoneField] is JsonObject done)
                file.Done = done;
            else if (node["row_done"] is not null)
            {
                file.Markers.Add(node);
                file.Records.AddRange(pending);
            }
            else
            {
                pending.Add(node);
                commits = false;
            }
            if (commits)
            {
                if (broken is { } b)
                    throw new InvalidDataException($"{path}:{b.Line}: not a JSON line ({b.Problem}), yet finished rows follow it: the file was altered. It was left as it is.");
                pending.Clear();
                file.CommittedLength = offset;
            }
        }
        return file;
    }

    /// <summary>A line of the file as written: compact JSON, non-ASCII text kept as it is, one newline.</summary>
    public static string Line(JsonNode node) => node.ToJsonString(LineOptions) + "\n";

    private static readonly JsonSerializerOptions LineOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>UTF-8 without a byte-order mark, as every job file is written.</summary>
    public static readonly Encoding Utf8 = new UTF8Encoding(false);
}
