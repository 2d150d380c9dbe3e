using System.Globalization;
using System.Text.Json;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// The three places a Hugging Face model folder lists added tokens, and how they are merged.
/// InternVL checkpoints add <c>&lt;img&gt;</c>, <c>&lt;/img&gt;</c>, <c>&lt;IMG_CONTEXT&gt;</c>… after the base
/// tokenizer's vocabulary; depending on the transformers version that saved the folder they appear in any of
/// these files, so all are read and merged.
/// </summary>
internal static class AddedTokenFiles
{
    /// <summary><c>{"content": id}</c>: the legacy file, and the only one our tiny test checkpoints have.</summary>
    public const string AddedTokensJson = "added_tokens.json";

    /// <summary>The HF <c>tokenizers</c> file: <c>added_tokens: [{id, content, special, lstrip, rstrip…}]</c>.</summary>
    public const string TokenizerJson = "tokenizer.json";

    /// <summary>transformers' config: <c>added_tokens_decoder: {"id": {content, special…}}</c>, bos/eos/pad names.</summary>
    public const string TokenizerConfigJson = "tokenizer_config.json";

    /// <summary>Reads added_tokens.json. It carries no flags, so <see cref="AddedToken.Special"/> is null.</summary>
    public static List<AddedToken> FromAddedTokensJson(string path)
    {
        using var doc = JsonFile.Parse(path);
        var root = JsonFile.RootObject(doc, path);
        var list = new List<AddedToken>();
        foreach (var p in root.EnumerateObject())
            list.Add(new AddedToken(p.Name, JsonFile.Id(p.Value, path, $"the id of \"{p.Name}\""), Special: null));
        return list;
    }

    /// <summary>Reads <c>added_tokens</c> of a parsed tokenizer.json (absent: none).</summary>
    public static List<AddedToken> FromTokenizerJson(JsonElement root, string path)
    {
        var list = new List<AddedToken>();
        var array = JsonFile.Optional(root, "added_tokens");
        if (array is null)
            return list;
        if (array.Value.ValueKind != JsonValueKind.Array)
            throw new TokenizerFileException(path, $"added_tokens must be an array, not {JsonFile.Describe(array.Value)}");
        int i = 0;
        foreach (var t in array.Value.EnumerateArray())
        {
            string where = $"added_tokens[{i++}]";
            if (t.ValueKind != JsonValueKind.Object)
                throw new TokenizerFileException(path, $"{where} must be an object, not {JsonFile.Describe(t)}");
            list.Add(ReadTokenObject(t, JsonFile.Id(JsonFile.Require(t, "id", JsonValueKind.Number, path, where + ".id"), path, where + ".id"), path, where));
        }
        return list;
    }

    /// <summary>Reads <c>added_tokens_decoder</c> of a parsed tokenizer_config.json (absent: none).</summary>
    public static List<AddedToken> FromTokenizerConfig(JsonElement root, string path)
    {
        var list = new List<AddedToken>();
        var decoder = JsonFile.Optional(root, "added_tokens_decoder");
        if (decoder is null)
            return list;
        if (decoder.Value.ValueKind != JsonValueKind.Object)
            throw new TokenizerFileException(path, $"added_tokens_decoder must be an object, not {JsonFile.Describe(decoder.Value)}");
        foreach (var p in decoder.Value.EnumerateObject())
        {
            string where = $"added_tokens_decoder[\"{p.Name}\"]";
            if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                throw new TokenizerFileException(path, $"{where}: the key must be a token id");
            if (p.Value.ValueKind != JsonValueKind.Object)
                throw new TokenizerFileException(path, $"{where} must be an object, not {JsonFile.Describe(p.Value)}");
            list.Add(ReadTokenObject(p.Value, id, path, where));
        }
        return list;
    }

    private static AddedToken ReadTokenObject(JsonElement t, int id, string path, string where)
    {
        string content = JsonFile.Require(t, "content", JsonValueKind.String, path, where + ".content").GetString()!;
        if (content.Length == 0)
            throw new TokenizerFileException(path, $"{where}.content is empty");
        // normalized / single_word are not applied: no Qwen2 or InternLM2 file sets them for a token that matters,
        // and matching the raw text is what every file we know does.
        return new AddedToken(content, id,
            Special: JsonFile.OptionalBool(t, "special", false, path, where + ".special"),
            LStrip: JsonFile.OptionalBool(t, "lstrip", false, path, where + ".lstrip"),
            RStrip: JsonFile.OptionalBool(t, "rstrip", false, path, where + ".rstrip"));
    }

    /// <summary>
    /// Merges lists given in priority order: a content takes its id (and strip flags) from the first list that
    /// has it. It is special when <paramref name="specialContents"/> (bos/eos/pad/unk and
    /// additional_special_tokens) names it, else by the first flag a list states, else true: InternVL adds its
    /// image tokens with <c>special_tokens=True</c>, and added_tokens.json cannot say so.
    /// </summary>
    public static List<AddedToken> Merge(IEnumerable<IEnumerable<AddedToken>> sourcesByPriority, IReadOnlySet<string>? specialContents = null)
    {
        var byContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var source in sourcesByPriority)
        {
            foreach (var t in source)
            {
                if (!byContent.TryGetValue(t.Content, out var kept))
                {
                    byContent[t.Content] = t;
                    order.Add(t.Content);
                }
                else if (kept.Special is null && t.Special is not null)
                {
                    byContent[t.Content] = kept with { Special = t.Special };
                }
            }
        }
        return order.Select(c => byContent[c]).Select(t => t with
        {
            Special = specialContents is not null && specialContents.Contains(t.Content) || (t.Special ?? true),
        }).ToList();
    }
}
