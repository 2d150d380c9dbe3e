using System.Text;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// The older (slow-tokenizer) layout of a byte-level BPE: <c>vocab.json</c> (<c>{"token": id}</c>) and
/// <c>merges.txt</c> (one "a b" pair a line, after an optional <c>#version</c> line). Read here rather than by
/// <c>BpeOptions(vocabFile, mergesFile)</c> so that errors name the file and the line.
/// </summary>
internal static class VocabMergesFiles
{
    /// <summary>The vocabulary file.</summary>
    public const string VocabJson = "vocab.json";

    /// <summary>The merges file.</summary>
    public const string MergesTxt = "merges.txt";

    /// <summary>
    /// Reads both files. Neither says how to pre-tokenise or normalise: that is the tokenizer class's code, so
    /// <paramref name="tokenizerClass"/> (tokenizer_config.json) picks it: Qwen2Tokenizer (also when absent) uses
    /// Qwen2's regex and NFC, GPT2Tokenizer GPT-2's regex and no normaliser.
    /// </summary>
    public static ByteLevelBpeDefinition Read(string vocabPath, string mergesPath, string? tokenizerClass, string? configPath)
    {
        string pattern;
        IReadOnlyList<NormalizationForm> forms;
        switch (tokenizerClass)
        {
            case null or "Qwen2Tokenizer" or "Qwen2TokenizerFast":
                (pattern, forms) = (TokenizerJsonFile.Qwen2SplitPattern, [NormalizationForm.FormC]);
                break;
            case "GPT2Tokenizer" or "GPT2TokenizerFast":
                (pattern, forms) = (TokenizerJsonFile.Gpt2SplitPattern, []);
                break;
            default:
                throw new TokenizerFileException(configPath ?? vocabPath,
                    $"tokenizer_class {tokenizerClass} with {VocabJson} + {MergesTxt}: only Qwen2Tokenizer and GPT2Tokenizer rules are known");
        }

        using var doc = JsonFile.Parse(vocabPath);
        var root = JsonFile.RootObject(doc, vocabPath);
        var vocab = new List<KeyValuePair<string, int>>();
        foreach (var p in root.EnumerateObject())
            vocab.Add(new(p.Name, JsonFile.Id(p.Value, vocabPath, $"the id of \"{p.Name}\"")));
        if (vocab.Count == 0)
            throw new TokenizerFileException(vocabPath, "is an empty vocabulary");

        var merges = new List<string>();
        int lineNumber = 0;
        foreach (var raw in File.ReadLines(mergesPath))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)))
                continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new TokenizerFileException(mergesPath, $"line {lineNumber} (\"{line}\") must be two tokens separated by one space");
            merges.Add(line);
        }

        return new ByteLevelBpeDefinition
        {
            Path = vocabPath,
            Vocabulary = vocab,
            Merges = merges,
            SplitPattern = pattern,
            Normalization = forms,
            AddedTokens = [],
        };
    }
}
