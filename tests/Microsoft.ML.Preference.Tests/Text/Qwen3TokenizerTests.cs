using System.Text.Json;
using Microsoft.ML.Preference.Text;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>Loads the Qwen3 fixture once (1-2 s: 151,643 tokens, 151,387 merges).</summary>
public sealed class Qwen3TokenizerFixture
{
    public ModelTokenizer Tokenizer { get; } = ModelTokenizer.FromFolder(TokenizerTestFiles.Qwen3Folder);
}

/// <summary>The real Qwen3 tokenizer files against the 55 encodings of an independent encoder (TestData/tokenizer-qwen3).</summary>
public class Qwen3TokenizerTests(Qwen3TokenizerFixture fixture) : IClassFixture<Qwen3TokenizerFixture>
{
    private static readonly List<JsonElement> AllCases = TokenizerTestFiles.Cases(TokenizerTestFiles.Qwen3Folder);

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < AllCases.Count; i++)
            data.Add(i);
        return data;
    }

    private ModelTokenizer Tok => fixture.Tokenizer;

    [Fact]
    public void FixtureHas55Cases() => Assert.Equal(55, AllCases.Count);

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void EncodesAndDecodesLikeTheReferenceEncoder(int index)
    {
        var c = AllCases[index];
        string text = c.GetProperty("text").GetString()!;
        var ids = Tok.Encode(text);
        Assert.Equal(TokenizerTestFiles.Ids(c), ids);
        Assert.Equal(c.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()), ids.Select(Tok.IdToToken));
        Assert.Equal(c.GetProperty("decoded").GetString(), Tok.Decode(ids));
        Assert.Equal(c.GetProperty("decoded_skip_special_tokens").GetString(), Tok.Decode(ids, skipSpecial: true));
    }

    [Fact]
    public void ReadsKindSizeAndSpecialIdsFromTheFolder()
    {
        Assert.Equal(TokenizerKind.ByteLevelBpe, Tok.Kind);
        Assert.Equal(151_669, Tok.VocabularySize);          // 151,643 BPE tokens + 26 added
        Assert.Null(Tok.BosId);                             // "bos_token": null
        Assert.False(Tok.AddBosByDefault);
        Assert.Equal(151_645, Tok.EosId);                   // <|im_end|>
        Assert.Equal(151_643, Tok.PadId);                   // <|endoftext|>
        Assert.Equal(26, Tok.AddedTokens.Count);
        Assert.Equal(151_644, Tok.AddedTokens.ImStartId);
        Assert.Equal(151_643, Tok.AddedTokens.EndOfTextId);
        Assert.Null(Tok.AddedTokens.ImageContextId);        // InternVL adds it to its own checkpoints, not here
        Assert.Equal(151_667, Tok.TokenToId("<think>"));
        Assert.Equal(14, Tok.SpecialTokens.Count);          // tool, FIM and think tokens (12) are not special
        Assert.False(Tok.SpecialTokens.ContainsKey("<think>"));
        Assert.Equal(151_645, Tok.SpecialTokens["<|im_end|>"]);
    }

    [Fact]
    public void MapsTokensAndIds()
    {
        Assert.Equal(1879, Tok.TokenToId("Ġworld"));
        Assert.Equal("Ġworld", Tok.IdToToken(1879));
        Assert.Equal("<|im_end|>", Tok.IdToToken(151_645));
        Assert.Null(Tok.TokenToId("no such token"));
        Assert.Null(Tok.IdToToken(151_669));
        Assert.Null(Tok.IdToToken(-1));
    }

    [Fact]
    public void CannotAddABosItDoesNotHaveNorDecodeUnknownIds()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => Tok.Encode("hi", addBos: true));
        Assert.Contains("no BOS", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([9707, 151_669]));
    }

    [Fact]
    public void SplitsAddedTokensOutEvenWhenGluedToWords()
    {
        Assert.Equal([9707, 151_645, 14_615], Tok.Encode("Hello<|im_end|>world"));
        Assert.Equal([151_667, 9707, 151_668], Tok.Encode("<think>Hello</think>"));
        Assert.Equal("Hello", Tok.Decode([151_644, 9707, 151_645], skipSpecial: true));
    }

    [Fact]
    public void ImageMarkersAreAddedTokensOnlyWhereTheFolderAddsThem()
    {
        // Not in Qwen3's files: plain BPE pieces (expected.json's InternVL cases).
        Assert.Equal([27, 30_346, 29_577, 29], Tok.Encode("<IMG_CONTEXT>"));

        // An InternVL checkpoint lists them in added_tokens.json, after the base vocabulary.
        using var folder = new TempFolder();
        folder.Copy(Path.Combine(TokenizerTestFiles.Qwen3Folder, "tokenizer.json"));
        folder.Copy(Path.Combine(TokenizerTestFiles.Qwen3Folder, "tokenizer_config.json"));
        folder.Write("added_tokens.json", """{"<img>": 151669, "</img>": 151670, "<IMG_CONTEXT>": 151671}""");
        var tok = ModelTokenizer.FromFolder(folder.Path);
        Assert.Equal(151_672, tok.VocabularySize);
        Assert.Equal(151_671, tok.AddedTokens.ImageContextId);
        string prompt = "<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is 2+2?<|im_end|>";
        var ids = tok.Encode(prompt);
        Assert.Equal([151_644, 872, 198, 151_669, 151_671, 151_671, 151_670, 198, 3838, 374, 220, 17, 10, 17, 30, 151_645], ids);
        Assert.Equal(prompt, tok.Decode(ids));
        Assert.Equal("user\n\nWhat is 2+2?", tok.Decode(ids, skipSpecial: true));   // added_tokens.json entries count as special
    }

    [Fact]
    public void VocabJsonPlusMergesTxtGivesTheSameIds()
    {
        // The slow-tokenizer layout of the same data: written out of tokenizer.json, as an older Qwen2 folder has it.
        using var folder = new TempFolder();
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TokenizerTestFiles.Qwen3Folder, "tokenizer.json"))))
        {
            var model = doc.RootElement.GetProperty("model");
            folder.Write("vocab.json", model.GetProperty("vocab").GetRawText());
            folder.Write("merges.txt", "#version: 0.2\n" + string.Join("\n",
                model.GetProperty("merges").EnumerateArray().Select(m => m[0].GetString() + " " + m[1].GetString())) + "\n");
        }
        folder.Copy(Path.Combine(TokenizerTestFiles.Qwen3Folder, "tokenizer_config.json"));
        var tok = ModelTokenizer.FromFolder(folder.Path);
        Assert.Equal(TokenizerKind.ByteLevelBpe, tok.Kind);
        Assert.Equal(151_669, tok.VocabularySize);        // the 26 added tokens come from added_tokens_decoder
        Assert.Equal(151_645, tok.EosId);
        foreach (var c in AllCases)
        {
            var ids = tok.Encode(c.GetProperty("text").GetString()!);
            Assert.Equal(TokenizerTestFiles.Ids(c), ids);
            Assert.Equal(c.GetProperty("decoded").GetString(), tok.Decode(ids));
        }
    }

    [Fact]
    public void Qwen2PatternConstantIsTheOneInTheFile()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TokenizerTestFiles.Qwen3Folder, "tokenizer.json")));
        string pattern = doc.RootElement.GetProperty("pre_tokenizer").GetProperty("pretokenizers")[0]
            .GetProperty("pattern").GetProperty("Regex").GetString()!;
        Assert.Equal(TokenizerJsonFile.Qwen2SplitPattern, pattern);
    }
}
