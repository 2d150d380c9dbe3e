using System.Text.Json;
using System.Text.Json.Nodes;

namespace Microsoft.ML.Preference.Modeling.Configuration;

/// <summary>
/// Typed access to a config.json object with errors that name the file and the field: a Hugging Face
/// config is hand-edited often enough that "KeyNotFoundException" is not an acceptable answer.
/// </summary>
internal sealed class JsonConfigReader
{
    private readonly JsonObject _node;
    private readonly string _where;

    public JsonConfigReader(JsonObject node, string where)
    {
        _node = node;
        _where = where;
    }

    public static JsonConfigReader Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: config.json not found.", path);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: invalid JSON ({e.Message}).", e);
        }
        if (root is not JsonObject obj)
            throw new InvalidDataException($"{path}: the top level must be a JSON object.");
        return new JsonConfigReader(obj, path);
    }

    public JsonObject Node => _node;

    public bool Has(string key) => _node[key] is not null;

    public JsonConfigReader Object(string key)
    {
        if (_node[key] is JsonObject child)
            return new JsonConfigReader(child, $"{_where}: {key}");
        throw Bad(key, "is missing or not an object");
    }

    public JsonConfigReader? OptionalObject(string key) =>
        _node[key] is JsonObject child ? new JsonConfigReader(child, $"{_where}: {key}") : null;

    public int Int(string key, int? fallback = null) => Get(key, fallback.HasValue, fallback.GetValueOrDefault(), n => n.GetValue<JsonElement>().GetInt32());

    public long Long(string key, long? fallback = null) => Get(key, fallback.HasValue, fallback.GetValueOrDefault(), n => n.GetValue<JsonElement>().GetInt64());

    public double Double(string key, double? fallback = null) => Get(key, fallback.HasValue, fallback.GetValueOrDefault(), n => n.GetValue<JsonElement>().GetDouble());

    public bool Bool(string key, bool? fallback = null) => Get(key, fallback.HasValue, fallback.GetValueOrDefault(), n =>
    {
        var e = n.GetValue<JsonElement>();
        // Some InternVL configs write 0/1 for booleans (use_backbone_lora, use_llm_lora).
        return e.ValueKind == JsonValueKind.Number ? e.GetInt32() != 0 : e.GetBoolean();
    });

    public string String(string key, string? fallback = null) => Get(key, fallback is not null, fallback ?? "", n => n.GetValue<JsonElement>().GetString()!);

    public int? OptionalInt(string key) => _node[key] is null ? null : Int(key);

    public IReadOnlyList<string> Strings(string key)
    {
        if (_node[key] is JsonArray array)
            return array.Select(x => x?.GetValue<JsonElement>().GetString() ?? "").ToList();
        return [];
    }

    public IReadOnlyList<double> Doubles(string key)
    {
        if (_node[key] is not JsonArray array)
            throw Bad(key, "is missing or not an array");
        try
        {
            return array.Select(x => x!.GetValue<JsonElement>().GetDouble()).ToList();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException or NullReferenceException)
        {
            throw Bad(key, "must hold numbers only");
        }
    }

    private T Get<T>(string key, bool hasFallback, T fallback, Func<JsonNode, T> read)
    {
        var value = _node[key];
        if (value is null)
            return hasFallback ? fallback : throw Bad(key, "is missing");
        try
        {
            return read(value);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw Bad(key, $"has the wrong type ({value.ToJsonString()})");
        }
    }

    private InvalidDataException Bad(string key, string problem) => new($"{_where}: '{key}' {problem}.");
}
