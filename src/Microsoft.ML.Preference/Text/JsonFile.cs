using System.Text.Json;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// Reading Hugging Face tokenizer JSON files so that every failure names the file and the member at fault,
/// instead of surfacing a bare <see cref="JsonException"/> or <see cref="KeyNotFoundException"/>.
/// </summary>
internal static class JsonFile
{
    /// <summary>Parses <paramref name="path"/>; invalid JSON becomes a <see cref="TokenizerFileException"/>.</summary>
    public static JsonDocument Parse(string path)
    {
        // The stream overload skips a UTF-8 BOM, which some hand-edited config files carry.
        using var stream = File.OpenRead(path);
        try
        {
            return JsonDocument.Parse(stream);
        }
        catch (JsonException ex)
        {
            throw new TokenizerFileException(path, $"is not valid JSON ({ex.Message})", ex);
        }
    }

    /// <summary>The root, which every file we read requires to be an object.</summary>
    public static JsonElement RootObject(JsonDocument doc, string path)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new TokenizerFileException(path, $"must hold a JSON object, not {Describe(doc.RootElement)}");
        return doc.RootElement;
    }

    /// <summary><paramref name="obj"/>.<paramref name="name"/>, or null when absent or JSON null.</summary>
    public static JsonElement? Optional(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    /// <summary><paramref name="obj"/>.<paramref name="name"/> of the given kind; <paramref name="where"/> names it in errors.</summary>
    public static JsonElement Require(JsonElement obj, string name, JsonValueKind kind, string path, string where)
    {
        var v = Optional(obj, name) ?? throw new TokenizerFileException(path, $"has no {where}");
        if (v.ValueKind != kind && !(kind == JsonValueKind.True && v.ValueKind == JsonValueKind.False))
            throw new TokenizerFileException(path, $"{where} must be {Describe(kind)}, not {Describe(v)}");
        return v;
    }

    /// <summary>A string member, or null when absent; any other kind is an error.</summary>
    public static string? OptionalString(JsonElement obj, string name, string path, string where)
    {
        var v = Optional(obj, name);
        if (v is null)
            return null;
        if (v.Value.ValueKind != JsonValueKind.String)
            throw new TokenizerFileException(path, $"{where} must be a string, not {Describe(v.Value)}");
        return v.Value.GetString();
    }

    /// <summary>A boolean member, or <paramref name="fallback"/> when absent; any other kind is an error.</summary>
    public static bool OptionalBool(JsonElement obj, string name, bool fallback, string path, string where)
    {
        var v = Optional(obj, name);
        return v?.ValueKind switch
        {
            null => fallback,
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new TokenizerFileException(path, $"{where} must be true or false, not {Describe(v.Value)}"),
        };
    }

    /// <summary>A token id: a JSON integer in int range.</summary>
    public static int Id(JsonElement v, string path, string where)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int id) || id < 0)
            throw new TokenizerFileException(path, $"{where} must be a non-negative integer id, not {Describe(v)}");
        return id;
    }

    /// <summary>"a string (\"abc\")", "an array", ...: for error messages.</summary>
    public static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"the string \"{Shorten(v.GetString()!)}\"",
        JsonValueKind.Number => $"the number {v.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {v.GetRawText()}",
        _ => Describe(v.ValueKind),
    };

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
