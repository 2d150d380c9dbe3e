using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c>. Microsoft.ML.Tokenizers 2.0.1 has no loader for this format, so
/// this turns the file into <see cref="ByteLevelBpeDefinition"/> (which <see cref="ByteLevelBpeBackend"/> hands
/// to <c>BpeTokenizer</c>), and refuses, by name, every setting the library could not reproduce.
/// </summary>
internal static class TokenizerJsonFile
{
    /// <summary>The pre-tokenizer regex of Qwen2/Qwen2.5/Qwen3 (also hard-coded in transformers' Qwen2Tokenizer).</summary>
    public const string Qwen2SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's regex: what a ByteLevel pre-tokenizer with <c>use_regex: true</c> splits by.</summary>
    public const string Gpt2SplitPattern =
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The outcome of reading the file.</summary>
    /// <param name="Bpe">The byte-level BPE definition, or null when the file holds something else.</param>
    /// <param name="Unsupported">Why <paramref name="Bpe"/> is null (e.g. "model.type is WordPiece, …").</param>
    /// <param name="AddedTokens">added_tokens, read in either case.</param>
    public sealed record Result(ByteLevelBpeDefinition? Bpe, string? Unsupported, List<AddedToken> AddedTokens);

    /// <summary>
    /// Reads the file. Malformed content (invalid JSON, no model.vocab, a bad merge) throws
    /// <see cref="TokenizerFileException"/>; a well-formed file of another kind (WordPiece, a SentencePiece
    /// conversion with byte fallback) comes back with <see cref="Result.Unsupported"/> set, so that the caller
    /// can fall back to tokenizer.model or say why it cannot.
    /// </summary>
    public static Result Read(string path)
    {
        using var doc = JsonFile.Parse(path);
        var root = JsonFile.RootObject(doc, path);
        var added = AddedTokenFiles.FromTokenizerJson(root, path);
        var model = JsonFile.Require(root, "model", JsonValueKind.Object, path, "model");

        // Old files have no model.type; the tokenizers library then recognises BPE by its vocab + merges.
        string type = JsonFile.OptionalString(model, "type", path, "model.type")
            ?? (model.TryGetProperty("merges", out _) ? "BPE" : "(none)");
        if (type != "BPE")
            return Unsupported($"model.type is {type}; only byte-level BPE tokenizer.json files can be loaded (SentencePiece models load from tokenizer.model)");

        var vocab = ReadVocabulary(model, path);
        var merges = ReadMerges(model, path);

        if (JsonFile.OptionalBool(model, "byte_fallback", false, path, "model.byte_fallback"))
            return Unsupported("model.byte_fallback is true: a SentencePiece-style BPE, not byte-level; BpeTokenizer has no byte fallback");
        if (JsonFile.Optional(model, "dropout") is { ValueKind: JsonValueKind.Number } dropout && dropout.GetDouble() > 0)
            return Unsupported($"model.dropout is {dropout.GetRawText()}: BPE dropout (random merges) is a training-time setting BpeTokenizer does not do");
        if (JsonFile.OptionalBool(model, "ignore_merges", false, path, "model.ignore_merges"))
            return Unsupported("model.ignore_merges is true (whole words looked up before merging), which BpeTokenizer does not do");

        var (pattern, preProblem) = ReadPreTokenizer(root, path);
        if (pattern is null)
            return Unsupported(preProblem!);
        var (forms, normProblem) = ReadNormalizer(root, path);
        if (forms is null)
            return Unsupported(normProblem!);

        var definition = new ByteLevelBpeDefinition
        {
            Path = path,
            Vocabulary = vocab,
            Merges = merges,
            SplitPattern = pattern,
            Normalization = forms,
            UnknownToken = JsonFile.OptionalString(model, "unk_token", path, "model.unk_token"),
            ContinuingSubwordPrefix = NullIfEmpty(JsonFile.OptionalString(model, "continuing_subword_prefix", path, "model.continuing_subword_prefix")),
            EndOfWordSuffix = NullIfEmpty(JsonFile.OptionalString(model, "end_of_word_suffix", path, "model.end_of_word_suffix")),
            FuseUnknownTokens = JsonFile.OptionalBool(model, "fuse_unk", false, path, "model.fuse_unk"),
            AddedTokens = added,
        };
        return new Result(definition, null, added);

        Result Unsupported(string why) => new(null, why, added);
    }

    private static List<KeyValuePair<string, int>> ReadVocabulary(JsonElement model, string path)
    {
        var vocab = JsonFile.Require(model, "vocab", JsonValueKind.Object, path, "model.vocab");
        var list = new List<KeyValuePair<string, int>>();
        foreach (var p in vocab.EnumerateObject())
            list.Add(new(p.Name, JsonFile.Id(p.Value, path, $"model.vocab[\"{p.Name}\"]")));
        if (list.Count == 0)
            throw new TokenizerFileException(path, "model.vocab is empty");
        return list;
    }

    // HF tokenizers < 0.20 write merges as "a b" strings; newer ones as ["a", "b"] pairs (Qwen3's file does).
    // BpeOptions.Merges takes "a b" strings, so a pair whose tokens contain a space cannot be handed over.
    private static List<string> ReadMerges(JsonElement model, string path)
    {
        var merges = JsonFile.Require(model, "merges", JsonValueKind.Array, path, "model.merges");
        var list = new List<string>(merges.GetArrayLength());
        int i = 0;
        foreach (var m in merges.EnumerateArray())
        {
            string where = $"model.merges[{i++}]";
            string left, right;
            if (m.ValueKind == JsonValueKind.String)
            {
                var parts = m.GetString()!.Split(' ');
                if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                    throw new TokenizerFileException(path, $"{where} (\"{m.GetString()}\") must be two tokens separated by one space");
                (left, right) = (parts[0], parts[1]);
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                     && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                (left, right) = (m[0].GetString()!, m[1].GetString()!);
                if (left.Length == 0 || right.Length == 0)
                    throw new TokenizerFileException(path, $"{where} has an empty token");
                if (left.Contains(' ') || right.Contains(' '))
                    throw new TokenizerFileException(path, $"{where} has a token with a space, which Microsoft.ML.Tokenizers' \"a b\" merges cannot express");
            }
            else
            {
                throw new TokenizerFileException(path, $"{where} must be a \"a b\" string or a [\"a\", \"b\"] pair, not {JsonFile.Describe(m)}");
            }
            list.Add(left + " " + right);
        }
        return list;
    }

    // Accepted: Sequence[Split(regex, Isolated), ByteLevel(use_regex: false)] (Qwen2/Qwen3), or a ByteLevel with
    // use_regex: true (GPT-2 style). Both without add_prefix_space, which BpeTokenizer cannot add.
    private static (string? Pattern, string? Problem) ReadPreTokenizer(JsonElement root, string path)
    {
        if (JsonFile.Optional(root, "pre_tokenizer") is not { } pre)
            return (null, "has no pre_tokenizer; a byte-level BPE needs a ByteLevel pre-tokenizer");
        if (pre.ValueKind != JsonValueKind.Object)
            throw new TokenizerFileException(path, $"pre_tokenizer must be an object, not {JsonFile.Describe(pre)}");
        var steps = TypeOf(pre, path, "pre_tokenizer") == "Sequence"
            ? JsonFile.Require(pre, "pretokenizers", JsonValueKind.Array, path, "pre_tokenizer.pretokenizers").EnumerateArray().ToList()
            : [pre];
        var types = steps.Select((s, i) => TypeOf(s, path, $"pre_tokenizer step {i}")).ToList();
        string shape = string.Join(" + ", types);

        string? pattern = null;
        if (types is ["Split", "ByteLevel"])
        {
            var split = steps[0];
            string behavior = JsonFile.OptionalString(split, "behavior", path, "pre_tokenizer Split.behavior") ?? "(none)";
            if (behavior != "Isolated" || JsonFile.OptionalBool(split, "invert", false, path, "pre_tokenizer Split.invert"))
                return (null, $"pre_tokenizer Split has behavior {behavior} / invert; only Isolated, not inverted, maps onto RegexPreTokenizer");
            var p = JsonFile.Require(split, "pattern", JsonValueKind.Object, path, "pre_tokenizer Split.pattern");
            pattern = JsonFile.OptionalString(p, "Regex", path, "pre_tokenizer Split.pattern.Regex")
                ?? Regex.Escape(JsonFile.OptionalString(p, "String", path, "pre_tokenizer Split.pattern.String")
                    ?? throw new TokenizerFileException(path, "pre_tokenizer Split.pattern has neither Regex nor String"));
            if (JsonFile.OptionalBool(steps[1], "use_regex", true, path, "pre_tokenizer ByteLevel.use_regex"))
                return (null, "pre_tokenizer splits twice (Split, then ByteLevel with use_regex: true); RegexPreTokenizer takes one regex");
        }
        else if (types is ["ByteLevel"])
        {
            if (!JsonFile.OptionalBool(steps[0], "use_regex", true, path, "pre_tokenizer ByteLevel.use_regex"))
                return (null, "pre_tokenizer is a ByteLevel with use_regex: false alone, which does not split words");
            pattern = Gpt2SplitPattern;
        }
        else
        {
            return (null, $"pre_tokenizer is {shape}; supported are Split(regex) + ByteLevel (Qwen2) and ByteLevel (GPT-2)");
        }
        if (JsonFile.OptionalBool(steps[^1], "add_prefix_space", false, path, "pre_tokenizer ByteLevel.add_prefix_space"))
            return (null, "pre_tokenizer ByteLevel.add_prefix_space is true, which BpeTokenizer cannot do");
        try
        {
            _ = new Regex(pattern);
        }
        catch (ArgumentException ex)
        {
            throw new TokenizerFileException(path, $"the pre_tokenizer regex is not a valid .NET regex ({ex.Message})", ex);
        }
        return (pattern, null);
    }

    // Accepted: none, NFC/NFD/NFKC/NFKD, or a Sequence of those.
    private static (IReadOnlyList<NormalizationForm>? Forms, string? Problem) ReadNormalizer(JsonElement root, string path)
    {
        if (JsonFile.Optional(root, "normalizer") is not { } n)
            return ([], null);
        var steps = TypeOf(n, path, "normalizer") == "Sequence"
            ? JsonFile.Require(n, "normalizers", JsonValueKind.Array, path, "normalizer.normalizers").EnumerateArray().ToList()
            : [n];
        var forms = new List<NormalizationForm>();
        foreach (var (step, i) in steps.Select((s, i) => (s, i)))
        {
            string type = TypeOf(step, path, $"normalizer step {i}");
            forms.Add(type switch
            {
                "NFC" => NormalizationForm.FormC,
                "NFD" => NormalizationForm.FormD,
                "NFKC" => NormalizationForm.FormKC,
                "NFKD" => NormalizationForm.FormKD,
                _ => (NormalizationForm)(-1),
            });
            if ((int)forms[^1] == -1)
                return (null, $"normalizer {type} is not supported (only NFC, NFD, NFKC, NFKD and Sequences of them)");
        }
        return (forms, null);
    }

    private static string TypeOf(JsonElement step, string path, string where)
    {
        if (step.ValueKind != JsonValueKind.Object)
            throw new TokenizerFileException(path, $"{where} must be an object, not {JsonFile.Describe(step)}");
        return JsonFile.Require(step, "type", JsonValueKind.String, path, where + ".type").GetString()!;
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
