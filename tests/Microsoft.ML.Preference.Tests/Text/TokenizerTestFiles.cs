using System.Text;
using System.Text.Json;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>Paths of the copied fixtures, a temporary folder, and a writer of small synthetic tokenizer.json files.</summary>
internal static class TokenizerTestFiles
{
    public static string Qwen3Folder => Path.Combine(AppContext.BaseDirectory, "TestData", "tokenizer-qwen3");

    public static string SentencePieceFolder => Path.Combine(AppContext.BaseDirectory, "TestData", "tokenizer-sentencepiece");

    public static string SpecialTokensFolder(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "special-tokens", name);

    /// <summary>The cases of a fixture's expected.json.</summary>
    public static List<JsonElement> Cases(string folder)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "expected.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToList();
    }

    public static int[] Ids(JsonElement c) => c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();

    /// <summary>GPT-2's byte → printable character map, which byte-level BPE vocabularies are written in.</summary>
    public static char ByteChar(byte b)
    {
        static bool Printable(int x) => x is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ';
        if (Printable(b))
            return (char)b;
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!Printable(x))
                n++;
        return (char)(256 + n);
    }

    /// <summary>
    /// A tiny byte-level BPE tokenizer.json: the 256 byte characters (ids 0-255), then one token per merge
    /// (ids 256…), Qwen2's pre-tokenizer and NFC. Merges are written as pairs or, with
    /// <paramref name="mergesAsStrings"/>, as "a b" strings.
    /// </summary>
    public static string TinyBpeJson((string A, string B)[] merges, bool mergesAsStrings = false, string addedTokensJson = "[]",
        string? modelType = "BPE", string? preTokenizerJson = null)
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
            vocab[ByteChar((byte)b).ToString()] = b;
        foreach (var (a, b) in merges)
            vocab.TryAdd(a + b, vocab.Count);
        object mergeList = mergesAsStrings ? merges.Select(m => m.A + " " + m.B).ToArray() : merges.Select(m => new[] { m.A, m.B }).ToArray();
        var model = new Dictionary<string, object?> { ["vocab"] = vocab, ["merges"] = mergeList };
        if (modelType is not null)
            model["type"] = modelType;
        var root = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = JsonDocument.Parse(addedTokensJson).RootElement,
            ["normalizer"] = new { type = "NFC" },
            ["pre_tokenizer"] = JsonDocument.Parse(preTokenizerJson ?? $$"""
                {"type": "Sequence", "pretokenizers": [
                  {"type": "Split", "pattern": {"Regex": {{JsonSerializer.Serialize(Microsoft.ML.Preference.Text.TokenizerJsonFile.Qwen2SplitPattern)}}}, "behavior": "Isolated", "invert": false},
                  {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]}
                """).RootElement,
            ["decoder"] = new { type = "ByteLevel" },
            ["model"] = model,
        };
        return JsonSerializer.Serialize(root);
    }

    /// <summary>Merges giving "hello" and "Ġhello" (ids 259 and 260 in <see cref="TinyBpeJson"/>).</summary>
    public static readonly (string, string)[] HelloMerges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "hello")];
}

/// <summary>A fresh temporary folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlpref-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Write(string name, string content)
    {
        string p = System.IO.Path.Combine(Path, name);
        File.WriteAllText(p, content, new UTF8Encoding(false));
        return p;
    }

    public string Copy(string source, string? name = null)
    {
        string p = System.IO.Path.Combine(Path, name ?? System.IO.Path.GetFileName(source));
        File.Copy(source, p);
        return p;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
