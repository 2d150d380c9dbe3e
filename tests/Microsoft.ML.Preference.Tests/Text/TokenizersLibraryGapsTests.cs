using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>
/// Why Text/ still holds a tokenizer.json reader and its own SentencePiece handling of special tokens on
/// Microsoft.ML.Tokenizers 3.0.0: what the library does natively, run on the same fixtures that our code matches in
/// full. When a release closes a gap, the test for it fails: then our code for it can go
/// (docs/tokenizers-and-templates.md#what-microsoftmltokenizers-does-and-what-this-package-adds).
/// </summary>
public sealed class TokenizersLibraryGapsTests
{
    [Fact]
    public void TheOnlyTokenizerJsonLoaderReadsUnigramNotQwensByteLevelBpe()
    {
        using var json = File.OpenRead(Path.Combine(TokenizerTestFiles.Qwen3Folder, "tokenizer.json"));
        var e = Assert.Throws<InvalidDataException>(() => SentencePieceTokenizer.CreateFromTokenizerJson(json, false, false));
        Assert.Contains("Unigram", e.Message);
    }

    [Fact]
    public void SentencePieceWithSpecialTokensStillDiffersOnChatMl()
    {
        var folder = TokenizerTestFiles.SentencePieceFolder;
        var symbols = new Dictionary<string, int> { ["<|im_start|>"] = 3, ["<|im_end|>"] = 4, ["<img>"] = 5, ["</img>"] = 6, ["<IMG_CONTEXT>"] = 7 };
        using var model = File.OpenRead(Path.Combine(folder, "tokenizer.model"));
        var library = SentencePieceTokenizer.Create(model, false, false, symbols);
        var cases = TokenizerTestFiles.Cases(folder);
        var differing = cases.Where(c => !library.EncodeToIds(c.GetProperty("text").GetString()!).SequenceEqual(TokenizerTestFiles.Ids(c)))
            .Select(c => c.GetProperty("text").GetString()!).ToList();
        // The library puts a dummy prefix on every piece between special tokens and none before the first one; the
        // SentencePiece library normalises the whole text first (one "▁" at the start), then cuts the symbols out.
        Assert.Equal(2, differing.Count);
        Assert.All(differing, text => Assert.StartsWith("<|im_start|>", text));
        Assert.Equal(18, cases.Count); // our SentencePieceBackend matches all 18 (SentencePieceTokenizerTests)
    }
}
