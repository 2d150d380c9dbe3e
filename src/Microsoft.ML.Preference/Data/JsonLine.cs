using System.Text.Json;

namespace Microsoft.ML.Preference.Data;

/// <summary>
/// One line of a jsonl data file, parsed, with the field readers every line format here shares (MMPR annotations,
/// preference pairs, questions): errors name the file and the line.
/// </summary>
internal sealed class JsonLine : IDisposable
{
    private readonly JsonDocument _document;
    private readonly string _file;
    private readonly long _lineNumber;

    private JsonLine(JsonDocument document, string file, long lineNumber)
    {
        _document = document;
        _file = file;
        _lineNumber = lineNumber;
    }

    public JsonElement Root => _document.RootElement;

    public static JsonLine Parse(string line, string file, long lineNumber)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw Error(file, lineNumber, $"not valid JSON ({e.Message})", e);
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw Error(file, lineNumber, "each line must be a JSON object");
        }
        return new JsonLine(document, file, lineNumber);
    }

    public InvalidDataException Error(string problem, Exception? inner = null) => Error(_file, _lineNumber, problem, inner);

    private static InvalidDataException Error(string file, long lineNumber, string problem, Exception? inner = null) =>
        new($"{file}:{lineNumber}: {problem}", inner);

    /// <summary>The first of <paramref name="names"/> present; a present field that is not a string is an error.</summary>
    public string RequiredText(params string[] names) =>
        Text(names, nullIsAbsent: false) ?? throw Error($"missing \"{names[0]}\"");

    /// <summary>The first of <paramref name="names"/> present and not null, or null.</summary>
    public string? OptionalText(params string[] names) => Text(names, nullIsAbsent: true);

    private string? Text(string[] names, bool nullIsAbsent)
    {
        foreach (var name in names)
        {
            if (!Root.TryGetProperty(name, out var value) || (nullIsAbsent && value.ValueKind == JsonValueKind.Null))
                continue;
            return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Error($"\"{name}\" must be a string");
        }
        return null;
    }

    /// <summary>The "image" field as written: one path, a list of paths, or none (absent or null).</summary>
    public string[] Images()
    {
        if (!Root.TryGetProperty("image", out var image))
            return [];
        return image.ValueKind switch
        {
            JsonValueKind.String => [image.GetString()!],
            JsonValueKind.Array => image.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Error("\"image\" lists must hold strings")).ToArray(),
            JsonValueKind.Null => [],
            _ => throw Error("\"image\" must be a path or a list of paths"),
        };
    }

    public void Dispose() => _document.Dispose();
}
