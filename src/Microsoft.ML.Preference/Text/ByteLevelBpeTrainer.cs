using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// Learns a small byte-level BPE vocabulary (Qwen2's pre-tokenizer, GPT-2's byte alphabet) from a corpus and
/// writes it as a Hugging Face tokenizer.json, so that tiny models made in code (tests, the quickstart) have a
/// real tokenizer that <see cref="ModelTokenizer"/> loads like any Qwen2 folder. Encoding itself is left to
/// Microsoft.ML.Tokenizers; this only decides the merges.
/// </summary>
internal static class ByteLevelBpeTrainer
{
    /// <summary>Qwen2's pre-tokenizer split pattern.</summary>
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's reversible map from bytes to printable characters.</summary>
    public static IReadOnlyList<char> ByteAlphabet { get; } = BuildAlphabet();

    private static char[] BuildAlphabet()
    {
        var printable = new List<int>();
        for (int b = '!'; b <= '~'; b++) printable.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) printable.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) printable.Add(b);
        var map = new char[256];
        foreach (var b in printable)
            map[b] = (char)b;
        int next = 0;
        for (int b = 0; b < 256; b++)
            if (!printable.Contains(b))
                map[b] = (char)(256 + next++);
        return map;
    }

    /// <summary>
    /// Learns up to <paramref name="merges"/> merges from <paramref name="corpus"/> (most frequent pair first, ties
    /// broken by order of first appearance for determinism) and returns the ordered merge list.
    /// </summary>
    public static IReadOnlyList<(string Left, string Right)> LearnMerges(IEnumerable<string> corpus, int merges)
    {
        var words = new Dictionary<string, int>(StringComparer.Ordinal);
        var regex = new Regex(Qwen2Pattern, RegexOptions.CultureInvariant);
        foreach (var text in corpus)
            foreach (Match m in regex.Matches(text))
            {
                var mapped = string.Concat(Encoding.UTF8.GetBytes(m.Value).Select(b => ByteAlphabet[b]));
                words[mapped] = words.GetValueOrDefault(mapped) + 1;
            }
        var sequences = words.Select(kv => (Symbols: kv.Key.Select(c => c.ToString()).ToList(), Count: kv.Value)).ToList();
        var result = new List<(string, string)>();
        for (int round = 0; round < merges; round++)
        {
            var counts = new Dictionary<(string, string), (int Count, int First)>();
            int order = 0;
            foreach (var (symbols, count) in sequences)
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    var pair = (symbols[i], symbols[i + 1]);
                    var (c, first) = counts.TryGetValue(pair, out var v) ? v : (0, order++);
                    counts[pair] = (c + count, first);
                }
            if (counts.Count == 0)
                break;
            var best = counts.OrderByDescending(kv => kv.Value.Count).ThenBy(kv => kv.Value.First).First();
            if (best.Value.Count < 2)
                break;
            var (left, right) = best.Key;
            result.Add((left, right));
            foreach (var (symbols, _) in sequences)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == left && symbols[i + 1] == right)
                    {
                        symbols[i] = left + right;
                        symbols.RemoveAt(i + 1);
                    }
        }
        return result;
    }

    /// <summary>
    /// <paramref name="count"/> merges made up rather than learned, for a tokenizer of a given vocabulary size
    /// (<c>mpo init</c>: a real-size model without a download needs a tokenizer with as many ids as its embedding).
    /// First every pair of byte symbols, then byte-symbol triples, the common symbols (space, letters, digits,
    /// punctuation) first; every merge joins two symbols that already exist, so the result is a valid BPE.
    /// </summary>
    public static IReadOnlyList<(string Left, string Right)> SyntheticMerges(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var common = "ĠabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789Ċ.,;:!?'\"()-_/";
        var order = common.Select(c => c.ToString()).Concat(ByteAlphabet.Select(c => c.ToString())).Distinct().ToArray();
        var merges = new List<(string, string)>(count);
        foreach (var a in order)
            foreach (var b in order)
            {
                if (merges.Count == count)
                    return merges;
                merges.Add((a, b));
            }
        foreach (var a in order)
            foreach (var b in order)
                foreach (var c in order)
                {
                    if (merges.Count == count)
                        return merges;
                    merges.Add((a + b, c));
                }
        throw new ArgumentOutOfRangeException(nameof(count), count, "More synthetic merges than byte pairs and triples give.");
    }

    /// <summary>
    /// Writes tokenizer.json and tokenizer_config.json into <paramref name="folder"/>: the 256 byte symbols, then one
    /// symbol per merge, then <paramref name="specialTokens"/> as added special tokens. Returns the special ids.
    /// </summary>
    public static IReadOnlyDictionary<string, int> Write(string folder, IReadOnlyList<(string Left, string Right)> merges,
        IReadOnlyList<string> specialTokens, string eosToken, string padToken)
    {
        Directory.CreateDirectory(folder);
        var vocab = new JsonObject();
        int id = 0;
        foreach (var c in ByteAlphabet)
            vocab[c.ToString()] = id++;
        foreach (var (l, r) in merges)
            if (!vocab.ContainsKey(l + r))
                vocab[l + r] = id++;
        var special = new Dictionary<string, int>();
        var added = new JsonArray();
        var decoder = new JsonObject();
        foreach (var token in specialTokens)
        {
            special[token] = id;
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = token, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            });
            decoder[id.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = token, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = true,
            };
            id++;
        }
        JsonObject ByteLevel() => new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false };
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = new JsonObject { ["type"] = "NFC" },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = Qwen2Pattern },
                        ["behavior"] = "Isolated", ["invert"] = false,
                    },
                    ByteLevel()),
            },
            ["post_processor"] = ByteLevel(),
            ["decoder"] = ByteLevel(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "", ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m.Left, m.Right)).ToArray()),
            },
        };
        var options = new JsonSerializerOptions { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), tokenizer.ToJsonString(options));
        var config = new JsonObject
        {
            ["add_bos_token"] = false,
            ["added_tokens_decoder"] = decoder,
            ["bos_token"] = null,
            ["eos_token"] = eosToken,
            ["pad_token"] = padToken,
            ["model_max_length"] = 32768,
            ["tokenizer_class"] = "Qwen2Tokenizer",
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return special;
    }
}
