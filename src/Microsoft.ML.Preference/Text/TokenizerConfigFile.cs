using System.Text.Json;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// What ModelTokenizer needs from tokenizer_config.json (transformers' tokenizer settings): the names of the
/// bos/eos/pad tokens, <c>add_bos_token</c>, the special-token names and <c>added_tokens_decoder</c>.
/// </summary>
internal sealed class TokenizerConfigFile
{
    // transformers' SPECIAL_TOKENS_ATTRIBUTES that name one token: all of them count as special when decoding.
    private static readonly string[] NamedTokenKeys =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly Dictionary<string, string?> _named = new(StringComparer.Ordinal);

    private TokenizerConfigFile(string path) => Path = path;

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary><c>add_bos_token</c>, when the file sets it.</summary>
    public bool? AddBosToken { get; private set; }

    /// <summary><c>tokenizer_class</c>, when the file sets it (e.g. "Qwen2Tokenizer").</summary>
    public string? TokenizerClass { get; private set; }

    /// <summary>added_tokens_decoder as added tokens.</summary>
    public List<AddedToken> AddedTokens { get; private set; } = [];

    /// <summary>Every token the file names as special: the named tokens and additional_special_tokens.</summary>
    public HashSet<string> SpecialContents { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether the file has <paramref name="key"/> ("bos_token") at all, and its content (null when the file
    /// says null: Qwen's <c>"bos_token": null</c> means "no BOS", which must not fall back to config.json).
    /// </summary>
    public bool TryGetNamedToken(string key, out string? content) => _named.TryGetValue(key, out content);

    /// <summary>Reads the file; null when the folder has none.</summary>
    public static TokenizerConfigFile? Load(string directory)
    {
        string path = System.IO.Path.Combine(directory, AddedTokenFiles.TokenizerConfigJson);
        if (!File.Exists(path))
            return null;
        using var doc = JsonFile.Parse(path);
        var root = JsonFile.RootObject(doc, path);
        var file = new TokenizerConfigFile(path)
        {
            AddedTokens = AddedTokenFiles.FromTokenizerConfig(root, path),
            TokenizerClass = JsonFile.OptionalString(root, "tokenizer_class", path, "tokenizer_class"),
        };
        if (JsonFile.Optional(root, "add_bos_token") is not null)
            file.AddBosToken = JsonFile.OptionalBool(root, "add_bos_token", false, path, "add_bos_token");
        foreach (var key in NamedTokenKeys)
        {
            if (!root.TryGetProperty(key, out var v))
                continue;
            string? content = v.ValueKind == JsonValueKind.Null ? null : TokenContent(v, path, key);
            file._named[key] = content;
            if (content is not null)
                file.SpecialContents.Add(content);
        }
        if (JsonFile.Optional(root, "additional_special_tokens") is { } extra)
        {
            if (extra.ValueKind != JsonValueKind.Array)
                throw new TokenizerFileException(path, $"additional_special_tokens must be an array, not {JsonFile.Describe(extra)}");
            int i = 0;
            foreach (var t in extra.EnumerateArray())
                file.SpecialContents.Add(TokenContent(t, path, $"additional_special_tokens[{i++}]"));
        }
        return file;
    }

    // A token is saved either as its text or as a serialized AddedToken object {"content": ..., "lstrip": ...}.
    private static string TokenContent(JsonElement v, string path, string where) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Object => JsonFile.Require(v, "content", JsonValueKind.String, path, where + ".content").GetString()!,
        _ => throw new TokenizerFileException(path, $"{where} must be a token string or an object with \"content\", not {JsonFile.Describe(v)}"),
    };
}
