using Microsoft.ML.Preference.Text;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>Special ids of model folders that have no full tokenizer (the tiny InternVL fixtures' added_tokens.json).</summary>
public class SpecialTokenIdsTests
{
    [Fact]
    public void Qwen2TinyCheckpoint()
    {
        var ids = SpecialTokenIds.FromFolder(TokenizerTestFiles.SpecialTokensFolder("qwen2"));
        // tiny-internvl/README.md "Tokens".
        Assert.Equal(new Dictionary<string, int>
        {
            ["<|endoftext|>"] = 88, ["<|im_start|>"] = 89, ["<|im_end|>"] = 90, ["<img>"] = 91, ["</img>"] = 92, ["<IMG_CONTEXT>"] = 93,
        }, ids.ToDictionary());
        Assert.Equal(93, ids.ImageContextId);
        Assert.Equal(91, ids.ImageStartId);
        Assert.Equal(92, ids.ImageEndId);
        Assert.Equal(89, ids.ImStartId);
        Assert.Equal(90, ids.ImEndId);
        Assert.Equal(88, ids.EndOfTextId);
        Assert.Equal(["added_tokens.json"], ids.Files.Select(Path.GetFileName));
    }

    [Fact]
    public void InternLM2TinyCheckpoint()
    {
        var ids = SpecialTokenIds.FromFolder(TokenizerTestFiles.SpecialTokensFolder("internlm2"));
        // tiny-internvl-internlm2/README.md "Tokens".
        Assert.Equal(new Dictionary<string, int>
        {
            ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2, ["<|plugin|>"] = 81, ["<|interpreter|>"] = 82, ["<|action_end|>"] = 83,
            ["<|action_start|>"] = 84, ["<|im_end|>"] = 85, ["<|im_start|>"] = 86, ["<img>"] = 87, ["</img>"] = 88,
            ["<IMG_CONTEXT>"] = 89, ["<quad>"] = 90, ["</quad>"] = 91, ["<ref>"] = 92, ["</ref>"] = 93, ["<box>"] = 94, ["</box>"] = 95,
        }, ids.ToDictionary());
        Assert.Equal(89, ids.ImageContextId);
        Assert.Equal(86, ids.ImStartId);
        Assert.Null(ids.EndOfTextId);
        Assert.Equal(2, ids.Require("</s>"));
        var ex = Assert.Throws<KeyNotFoundException>(() => ids.Require("<|endoftext|>"));
        Assert.Contains("internlm2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Qwen3FolderListsItsTwentySixAddedTokens()
    {
        var ids = SpecialTokenIds.FromFolder(TokenizerTestFiles.Qwen3Folder);
        Assert.Equal(26, ids.Count);
        Assert.Equal(151_667, ids["<think>"]);
        Assert.Equal(151_645, ids.ImEndId);
        Assert.Null(ids.ImageContextId);
    }

    [Fact]
    public void MergesTheThreeFilesInOrderOfPreference()
    {
        using var folder = new TempFolder();
        folder.Write("added_tokens.json", """{"<img>": 5}""");
        folder.Write("tokenizer.json", """{"added_tokens": [{"id": 6, "content": "<img>", "special": true}, {"id": 7, "content": "<a>", "special": true}], "model": {}}""");
        folder.Write("tokenizer_config.json", """{"added_tokens_decoder": {"8": {"content": "<a>"}, "9": {"content": "<b>", "special": false}}}""");
        var ids = SpecialTokenIds.FromFolder(folder.Path);
        Assert.Equal(new Dictionary<string, int> { ["<img>"] = 5, ["<a>"] = 7, ["<b>"] = 9 }, ids.ToDictionary());
        Assert.Equal(3, ids.Files.Count);
    }

    [Fact]
    public void FolderWithoutTheFilesIsAnErrorNamingThem()
    {
        using var folder = new TempFolder();
        var ex = Assert.Throws<FileNotFoundException>(() => SpecialTokenIds.FromFolder(folder.Path));
        Assert.Contains(folder.Path, ex.Message, StringComparison.Ordinal);
        foreach (var name in new[] { "added_tokens.json", "tokenizer.json", "tokenizer_config.json" })
            Assert.Contains(name, ex.Message, StringComparison.Ordinal);
        Assert.Throws<DirectoryNotFoundException>(() => SpecialTokenIds.FromFolder(Path.Combine(folder.Path, "missing")));
    }

    [Fact]
    public void MalformedAddedTokensJsonNamesTheFile()
    {
        using var folder = new TempFolder();
        string path = folder.Write("added_tokens.json", """{"<img>": "ninety-one"}""");
        var ex = Assert.Throws<TokenizerFileException>(() => SpecialTokenIds.FromFolder(folder.Path));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains("<img>", ex.Message, StringComparison.Ordinal);
    }
}
