using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Cli;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Tests.Modeling.Checkpoints;
using Microsoft.ML.Preference.Text;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Cli;

/// <summary>`mpo init`: a random-weight folder of a given architecture that every loading path accepts.</summary>
[Collection("Console")]
public class InitCommandTests
{
    private static readonly string PublishedConfigs = Path.Combine(AppContext.BaseDirectory, "TestData", "published-configs");

    /// <summary>InternVL2-1B's config shrunk to a tiny width (same family, template and layout).</summary>
    private static string TinyConfig(TempFolder tmp, int vocab)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(PublishedConfigs, "internvl2-1b.json")))!.AsObject();
        json["force_image_size"] = 56;
        json["max_dynamic_patch"] = 1;
        var v = json["vision_config"]!.AsObject();
        v["image_size"] = 56; v["hidden_size"] = 32; v["num_hidden_layers"] = 2; v["num_attention_heads"] = 2; v["intermediate_size"] = 64;
        var l = json["llm_config"]!.AsObject();
        l["hidden_size"] = 64; l["intermediate_size"] = 128; l["num_hidden_layers"] = 2; l["num_attention_heads"] = 4;
        l["num_key_value_heads"] = 2; l["vocab_size"] = vocab;
        var path = tmp.File("tiny-config.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    [Fact]
    public void InitWritesAShardedFolderWithATokenizerOfTheVocabularyThatLoadsAndGenerates()
    {
        using var tmp = new TempFolder();
        var model = tmp.File("model");
        // 256 byte symbols + 12 special tokens + 132 synthetic merges; shards of at most 100 kB, so several and an index.
        Assert.Equal(0, Program.Main(["init", "--config", TinyConfig(tmp, 400), "--out", model, "--max-shard-gb", "0.0001", "--seed", "3"]));

        Assert.True(File.Exists(Path.Combine(model, CheckpointFolder.IndexFileName)));
        var shards = Directory.GetFiles(model, "model-*-of-*.safetensors").Select(Path.GetFileName).Order().ToArray();
        Assert.True(shards.Length > 1, $"{shards.Length} shard(s)");
        Assert.Equal($"model-00001-of-{shards.Length:D5}.safetensors", shards[0]);
        using (var checkpoint = CheckpointFolder.Open(model))
        {
            Assert.All(checkpoint.Shards, s => Assert.True(new FileInfo(s.Path).Length <= 100_000 || s.Names.Count == 1, s.Path));
            Assert.Equal(torch.ScalarType.BFloat16, checkpoint.Read(checkpoint.Names[0]).dtype);
            using var norm = checkpoint.Read("language_model.model.norm.weight", torch.ScalarType.Float32);
            Assert.Equal(1f, norm.min().item<float>());
            using var embedding = checkpoint.Read("language_model.model.embed_tokens.weight", torch.ScalarType.Float32);
            Assert.Equal(new long[] { 400, 64 }, embedding.shape);
            Assert.InRange(embedding.std().item<float>(), 0.018f, 0.022f);
        }

        var tokenizer = ModelTokenizer.FromFolder(model);
        Assert.Equal(400, tokenizer.VocabularySize);
        Assert.Equal(tokenizer.TokenToId("<|im_end|>"), tokenizer.EosId);
        Assert.Equal(400 - 12 + 5, tokenizer.TokenToId("<IMG_CONTEXT>"));
        var ids = tokenizer.Encode("<|im_start|>user\nWhat is it?<|im_end|>");
        Assert.Equal("<|im_start|>user\nWhat is it?<|im_end|>", tokenizer.Decode(ids));

        using (var loaded = InternVLModelFolder.Load(model))
            Assert.Equal(400 - 12 + 5, loaded.ImageContextTokenId);
        Assert.Equal(0, Program.Main(["generate", "--model", model, "--prompt", "Hi?", "--max-new-tokens", "2", "--device", "cpu"]));

        // The same seed writes the same bytes.
        var again = tmp.File("again");
        Assert.Equal(0, Program.Main(["init", "--config", TinyConfig(tmp, 400), "--out", again, "--max-shard-gb", "0.0001", "--seed", "3"]));
        foreach (var shard in shards)
            Assert.Equal(File.ReadAllBytes(Path.Combine(model, shard!)), File.ReadAllBytes(Path.Combine(again, shard!)));
    }

    [Fact]
    public void PublishedNamesResolveAndATooSmallVocabularyIsRefused()
    {
        Assert.Contains("internvl2-1b", RandomInternVLFolder.PublishedConfigNames);
        Assert.Equal(9, RandomInternVLFolder.PublishedConfigNames.Count);
        var config = RandomInternVLFolder.ResolveConfig("InternVL2-1B");
        Assert.Equal(151655, config.Language.VocabSize);
        Assert.Equal("Hermes-2", config.Template);
        Assert.Equal("internvl2_5", RandomInternVLFolder.ResolveConfig("InternVL2.5-4B").Template);

        using var tmp = new TempFolder();
        Assert.Equal(1, Program.Main(["init", "--config", TinyConfig(tmp, 200), "--out", tmp.File("m")]));
        Assert.Equal(1, Program.Main(["init", "--config", "internvl9-1t", "--out", tmp.File("m")]));
    }
}
