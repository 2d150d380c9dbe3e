using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// The added tokens of a model folder (chat and image markers), name → id, read without building a tokenizer.
/// InternVL finds image positions by <c>&lt;IMG_CONTEXT&gt;</c>'s id, which depends on the base tokenizer
/// (Qwen2 / InternLM2) and must come from the checkpoint's own files, never from a constant.
/// </summary>
public sealed class SpecialTokenIds : IReadOnlyDictionary<string, int>
{
    /// <summary>InternVL's image placeholder: one per visual token, replaced by the projected image features.</summary>
    public const string ImageContextToken = "<IMG_CONTEXT>";

    /// <summary>InternVL's image start marker.</summary>
    public const string ImageStartToken = "<img>";

    /// <summary>InternVL's image end marker.</summary>
    public const string ImageEndToken = "</img>";

    /// <summary>ChatML turn start.</summary>
    public const string ImStartToken = "<|im_start|>";

    /// <summary>ChatML turn end (Qwen's and InternLM2-chat's end of turn).</summary>
    public const string ImEndToken = "<|im_end|>";

    /// <summary>Qwen's end of text (also its padding token).</summary>
    public const string EndOfTextToken = "<|endoftext|>";

    private readonly Dictionary<string, int> _ids;

    internal SpecialTokenIds(IEnumerable<AddedToken> tokens, string source, IReadOnlyList<string> files)
    {
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in tokens)
            _ids.TryAdd(t.Content, t.Id);
        Source = source;
        Files = files;
    }

    /// <summary>
    /// Reads the added tokens of <paramref name="directory"/> from added_tokens.json, tokenizer.json
    /// (<c>added_tokens</c>) and tokenizer_config.json (<c>added_tokens_decoder</c>), merged in that order of
    /// preference: a token listed in several files takes its id from the first.
    /// </summary>
    /// <param name="directory">A model folder.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder has none of the three files.</exception>
    /// <exception cref="TokenizerFileException">One of the files is malformed.</exception>
    public static SpecialTokenIds FromFolder(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string dir = Path.GetFullPath(directory);
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"Model folder {dir} does not exist.");
        var files = new List<string>();
        var sources = new List<IEnumerable<AddedToken>>();

        string addedPath = Path.Combine(dir, AddedTokenFiles.AddedTokensJson);
        if (File.Exists(addedPath))
        {
            files.Add(addedPath);
            sources.Add(AddedTokenFiles.FromAddedTokensJson(addedPath));
        }
        foreach (var (name, read) in new (string, Func<System.Text.Json.JsonElement, string, List<AddedToken>>)[]
                 {
                     (AddedTokenFiles.TokenizerJson, AddedTokenFiles.FromTokenizerJson),
                     (AddedTokenFiles.TokenizerConfigJson, AddedTokenFiles.FromTokenizerConfig),
                 })
        {
            string path = Path.Combine(dir, name);
            if (!File.Exists(path))
                continue;
            files.Add(path);
            using var doc = JsonFile.Parse(path);
            sources.Add(read(JsonFile.RootObject(doc, path), path));
        }
        if (files.Count == 0)
            throw new FileNotFoundException(
                $"Model folder {dir} lists no added tokens: looked for {AddedTokenFiles.AddedTokensJson}, " +
                $"{AddedTokenFiles.TokenizerJson} and {AddedTokenFiles.TokenizerConfigJson}.");
        return new SpecialTokenIds(AddedTokenFiles.Merge(sources), dir, files);
    }

    /// <summary>Where the ids came from (the folder), for messages.</summary>
    public string Source { get; }

    /// <summary>The files that were read, in order of preference.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The id of <c>&lt;IMG_CONTEXT&gt;</c>, or null when the folder has none.</summary>
    public int? ImageContextId => Find(ImageContextToken);

    /// <summary>The id of <c>&lt;img&gt;</c>, or null.</summary>
    public int? ImageStartId => Find(ImageStartToken);

    /// <summary>The id of <c>&lt;/img&gt;</c>, or null.</summary>
    public int? ImageEndId => Find(ImageEndToken);

    /// <summary>The id of <c>&lt;|im_start|&gt;</c>, or null.</summary>
    public int? ImStartId => Find(ImStartToken);

    /// <summary>The id of <c>&lt;|im_end|&gt;</c>, or null.</summary>
    public int? ImEndId => Find(ImEndToken);

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>, or null.</summary>
    public int? EndOfTextId => Find(EndOfTextToken);

    /// <summary>The id of <paramref name="token"/>, or null when it is not an added token here.</summary>
    public int? Find(string token) => _ids.TryGetValue(token, out int id) ? id : null;

    /// <summary>The id of <paramref name="token"/>.</summary>
    /// <exception cref="KeyNotFoundException">It is not an added token here; the message names the folder.</exception>
    public int Require(string token) => _ids.TryGetValue(token, out int id)
        ? id
        : throw new KeyNotFoundException($"{token} is not an added token of {Source} (read: {string.Join(", ", Files.Select(Path.GetFileName))}).");

    /// <inheritdoc />
    public int this[string key] => Require(key);

    /// <inheritdoc />
    public IEnumerable<string> Keys => _ids.Keys;

    /// <inheritdoc />
    public IEnumerable<int> Values => _ids.Values;

    /// <inheritdoc />
    public int Count => _ids.Count;

    /// <inheritdoc />
    public bool ContainsKey(string key) => _ids.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out int value) => _ids.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, int>> GetEnumerator() => _ids.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
