using Microsoft.ML.Preference.Text;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>The tokenizer.json loader on small synthetic files: both merge forms, added-token flags, config fallbacks.</summary>
public class TokenizerJsonLoaderTests
{
    [Theory]
    [InlineData(false, "BPE")]
    [InlineData(true, "BPE")]
    [InlineData(true, null)]    // old files have no model.type
    public void MergesAsPairsOrStringsGiveTheSameIds(bool mergesAsStrings, string? modelType)
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson(TokenizerTestFiles.HelloMerges, mergesAsStrings, modelType: modelType));
        var tok = ModelTokenizer.FromFolder(folder.Path);
        // "hello" = 259, "Ġhello" = 260; "!" is the byte character itself (33).
        Assert.Equal([259, 260, 33], tok.Encode("hello hello!"));
        Assert.Equal("hello hello!", tok.Decode([259, 260, 33]));
        Assert.Equal("Ġhello", tok.IdToToken(260));
    }

    [Fact]
    public void StripFlagsSwallowWhitespaceAndLongestTokenWins()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson(TokenizerTestFiles.HelloMerges, addedTokensJson: """
            [{"id": 300, "content": "<m>", "special": true, "lstrip": true, "rstrip": true},
             {"id": 301, "content": "<m><n>", "special": false},
             {"id": 302, "content": "<n>", "special": false}]
            """));
        var tok = ModelTokenizer.FromFolder(folder.Path);
        // " hello" keeps its space where no strip applies; around <m> the spaces are gone.
        Assert.Equal([259, 300, 259], tok.Encode("hello  <m>  hello"));
        Assert.Equal([259, 301, 302], tok.Encode("hello<m><n><n>"));
        Assert.Equal("hello<m><n><n>", tok.Decode([259, 301, 302]));
        Assert.Equal("hello<n>", tok.Decode([259, 300, 302], skipSpecial: true));
    }

    [Fact]
    public void IdsFallBackToConfigJsonWithoutTokenizerConfig()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson(TokenizerTestFiles.HelloMerges));
        folder.Write("config.json", """{"model_type": "internvl_chat", "llm_config": {"eos_token_id": [7, 8], "pad_token_id": 9}}""");
        var tok = ModelTokenizer.FromFolder(folder.Path);
        Assert.Null(tok.BosId);
        Assert.Equal(7, tok.EosId);
        Assert.Equal(9, tok.PadId);
    }

    [Fact]
    public void TokenizerConfigNamesDecideAndNullMeansNone()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerTestFiles.TinyBpeJson(TokenizerTestFiles.HelloMerges,
            addedTokensJson: """[{"id": 300, "content": "<eos>", "special": true}]"""));
        folder.Write("config.json", """{"bos_token_id": 1, "eos_token_id": 2}""");
        folder.Write("tokenizer_config.json", """{"bos_token": null, "eos_token": {"content": "<eos>", "__type": "AddedToken"}, "pad_token": "hello"}""");
        var tok = ModelTokenizer.FromFolder(folder.Path);
        Assert.Null(tok.BosId);
        Assert.Equal(300, tok.EosId);
        Assert.Equal(259, tok.PadId);
        Assert.Equal(new Dictionary<string, int> { ["<eos>"] = 300, ["hello"] = 259 }, tok.SpecialTokens.ToDictionary());
    }
}
