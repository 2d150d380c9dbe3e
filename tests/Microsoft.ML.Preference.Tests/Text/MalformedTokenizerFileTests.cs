using Microsoft.ML.Preference.Text;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>Broken or unsupported files fail with an exception that names the file and the problem.</summary>
public class MalformedTokenizerFileTests
{
    private static TokenizerFileException Fails(TempFolder folder, string expectedFile, params string[] fragments)
    {
        var ex = Assert.Throws<TokenizerFileException>(() => ModelTokenizer.FromFolder(folder.Path));
        Assert.Equal(Path.Combine(folder.Path, expectedFile), ex.FilePath);
        Assert.StartsWith(ex.FilePath + ": ", ex.Message, StringComparison.Ordinal);
        foreach (var f in fragments)
            Assert.Contains(f, ex.Problem, StringComparison.Ordinal);
        return ex;
    }

    [Fact]
    public void InvalidJson()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", """{"model": {"type": "BPE", "vocab": {"a": 0,}""");
        Fails(folder, "tokenizer.json", "not valid JSON");
    }

    [Fact]
    public void MissingModelVocab()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", """{"model": {"type": "BPE", "merges": []}}""");
        Fails(folder, "tokenizer.json", "model.vocab");
    }

    [Fact]
    public void MissingModel()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", """{"version": "1.0"}""");
        Fails(folder, "tokenizer.json", "has no model");
    }

    [Fact]
    public void WordPieceModel()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", """{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}}""");
        Fails(folder, "tokenizer.json", "WordPiece");
    }

    [Fact]
    public void MalformedMerge()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson([("h", "e"), ("l", "l")], mergesAsStrings: true)
            .Replace("\"l l\"", "\"l l l\"", StringComparison.Ordinal));
        Fails(folder, "tokenizer.json", "model.merges[1]");
    }

    [Fact]
    public void MergeOfUnknownTokenIsRejectedByTheLibrary()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson([("h", "e")]).Replace("[\"h\",\"e\"]", "[\"h\",\"zz\"]", StringComparison.Ordinal));
        Fails(folder, "tokenizer.json", "BpeTokenizer");
    }

    [Fact]
    public void SentencePieceStyleJsonWithoutTokenizerModel()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", """{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": null}""");
        Fails(folder, "tokenizer.json", "byte_fallback");
    }

    [Fact]
    public void SentencePieceStyleJsonFallsBackToTokenizerModel()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", """{"added_tokens": [{"id": 5, "content": "<img>", "special": true}], "model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}}""");
        folder.Copy(Path.Combine(TokenizerTestFiles.SentencePieceFolder, "tokenizer.model"));
        var tok = ModelTokenizer.FromFolder(folder.Path);
        Assert.Equal(TokenizerKind.SentencePiece, tok.Kind);
        Assert.Equal([769, 1883, 1905, 1114, 537], tok.Encode("Hello world"));
        Assert.True(tok.SpecialTokens.ContainsKey("<img>"));
    }

    [Fact]
    public void UnsupportedPreTokenizer()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson(TokenizerTestFiles.HelloMerges, preTokenizerJson:
            """{"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "ByteLevel", "use_regex": false}]}"""));
        Fails(folder, "tokenizer.json", "pre_tokenizer is Whitespace + ByteLevel");
    }

    [Fact]
    public void CorruptSentencePieceModel()
    {
        using var folder = new TempFolder();
        File.WriteAllBytes(Path.Combine(folder.Path, "tokenizer.model"), [0x0a, 0xff, 0xff, 0x01, 0x02]);
        Fails(folder, "tokenizer.model", "not a SentencePiece model");
    }

    [Fact]
    public void MalformedMergesTxt()
    {
        using var folder = new TempFolder();
        folder.Write("vocab.json", """{"a": 0, "b": 1, "ab": 2}""");
        folder.Write("merges.txt", "#version: 0.2\na b\nab\n");
        Fails(folder, "merges.txt", "line 3");
    }

    [Fact]
    public void UnknownEosTokenName()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson(TokenizerTestFiles.HelloMerges));
        folder.Write("tokenizer_config.json", """{"eos_token": "<|nope|>"}""");
        Fails(folder, "tokenizer_config.json", "eos_token", "<|nope|>");
    }

    [Fact]
    public void InvalidTokenizerConfigJson()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson(TokenizerTestFiles.HelloMerges));
        folder.Write("tokenizer_config.json", "not json");
        Fails(folder, "tokenizer_config.json", "not valid JSON");
    }

    [Fact]
    public void NoTokenizerFilesNamesTheFolderAndTheFilesLookedFor()
    {
        using var folder = new TempFolder();
        folder.Write("config.json", "{}");
        var ex = Assert.Throws<FileNotFoundException>(() => ModelTokenizer.FromFolder(folder.Path));
        Assert.Contains(folder.Path, ex.Message, StringComparison.Ordinal);
        foreach (var name in new[] { "tokenizer.json", "vocab.json", "merges.txt", "tokenizer.model" })
            Assert.Contains(name, ex.Message, StringComparison.Ordinal);
        Assert.Throws<DirectoryNotFoundException>(() => ModelTokenizer.FromFolder(Path.Combine(folder.Path, "missing")));
    }

    [Fact]
    public void VocabJsonWithoutMergesTxt()
    {
        using var folder = new TempFolder();
        folder.Write("vocab.json", """{"a": 0}""");
        var ex = Assert.Throws<FileNotFoundException>(() => ModelTokenizer.FromFolder(folder.Path));
        Assert.Contains("merges.txt", ex.Message, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(folder.Path, "merges.txt"), ex.FileName);
    }
}
