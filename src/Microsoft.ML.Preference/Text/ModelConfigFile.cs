using System.Text.Json;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// The token ids a model's config.json declares (<c>bos_token_id</c>, <c>eos_token_id</c>, <c>pad_token_id</c>),
/// at the top level or, for InternVL's composite config, under <c>llm_config</c> (or <c>text_config</c>).
/// Only a fallback: the tokenizer files are the authority on a tokenizer's tokens.
/// </summary>
internal static class ModelConfigFile
{
    /// <summary>The file name.</summary>
    public const string FileName = "config.json";

    /// <summary>The id config.json gives for <paramref name="key"/> ("eos_token_id"), or null.</summary>
    public static int? ReadId(string directory, string key)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            return null;
        using var doc = JsonFile.Parse(path);
        var root = JsonFile.RootObject(doc, path);
        foreach (var (obj, where) in new[] { (root, key), (Sub(root, "llm_config"), "llm_config." + key), (Sub(root, "text_config"), "text_config." + key) })
        {
            if (JsonFile.Optional(obj, key) is not { } v)
                continue;
            // Some configs list several EOS ids ([151645, 151643]); the first is the one a tokenizer appends.
            if (v.ValueKind == JsonValueKind.Array)
                return v.GetArrayLength() == 0 ? null : JsonFile.Id(v[0], path, where + "[0]");
            return JsonFile.Id(v, path, where);
        }
        return null;
    }

    private static JsonElement Sub(JsonElement root, string name) =>
        JsonFile.Optional(root, name) is { ValueKind: JsonValueKind.Object } v ? v : default;
}
