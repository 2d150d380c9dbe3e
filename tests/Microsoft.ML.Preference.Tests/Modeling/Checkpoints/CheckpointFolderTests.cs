using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Modeling.Checkpoints;

public class CheckpointFolderTests
{
    private const string Shard1 = "model-00001-of-00002.safetensors";
    private const string Shard2 = "model-00002-of-00002.safetensors";

    public CheckpointFolderTests() => TorchRuntime.Initialize();

    /// <summary>The fixture's weight_map, read independently of the code under test.</summary>
    internal static Dictionary<string, string> FixtureWeightMap()
    {
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(CheckpointTestFiles.TinyInternVl, CheckpointFolder.IndexFileName)));
        return index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    [Fact]
    public void ShardedFixtureOpensAndEveryIndexedTensorReads()
    {
        using var scope = torch.NewDisposeScope();
        using var folder = CheckpointFolder.Open(CheckpointTestFiles.TinyInternVl);
        var weightMap = FixtureWeightMap();

        Assert.Equal(Path.Combine(CheckpointTestFiles.TinyInternVl, CheckpointFolder.IndexFileName), folder.IndexPath);
        Assert.Equal([Shard1, Shard2], folder.Shards.Select(s => Path.GetFileName(s.Path)));
        Assert.Equal(65, weightMap.Count);
        Assert.Equal(weightMap.Keys.Order(StringComparer.Ordinal), folder.Names.Order(StringComparer.Ordinal));
        Assert.Equal("vision_model.embeddings.class_embedding", folder.Names[0]);
        Assert.Equal("mlp1.3.bias", folder.Names[^1]);
        Assert.Equal(267776L, folder.DeclaredTotalSize);
        Assert.Equal(267776L, folder.TotalSize);

        long bytes = 0;
        foreach (var (name, shard) in weightMap)
        {
            using var inner = torch.NewDisposeScope();
            Assert.Equal(shard, Path.GetFileName(folder.ShardOf(name).Path));
            var info = folder.GetInfo(name);
            Assert.Equal("F32", info.DType);
            bytes += info.ByteLength;

            var f32 = folder.Read(name);
            Assert.Equal(torch.ScalarType.Float32, f32.dtype);
            Assert.Equal(info.ShapeArray(), f32.shape);
            // The reader's bytes are the file's bytes, as an independent parser finds them.
            Assert.Equal(CheckpointTestFiles.RawTensorBytes(Path.Combine(CheckpointTestFiles.TinyInternVl, shard), name), f32.bytes.ToArray());

            var bf16 = folder.Read(name, torch.bfloat16);
            Assert.Equal(torch.ScalarType.BFloat16, bf16.dtype);
            Assert.Equal(MemoryMarshal.Cast<byte, ushort>(f32.to(torch.bfloat16).bytes).ToArray(), MemoryMarshal.Cast<byte, ushort>(bf16.bytes).ToArray());

            var f16 = folder.Read(name, torch.float16);
            Assert.Equal(torch.ScalarType.Float16, f16.dtype);
            Assert.Equal(f32.shape, f16.shape);
            Assert.True(f16.to(torch.float32).allclose(f32, rtol: 1e-3, atol: 1e-4), name);
        }
        Assert.Equal(267776L, bytes);
    }

    [Fact]
    public void FixtureWeightsAreNotTrivial()
    {
        using var scope = torch.NewDisposeScope();
        using var folder = CheckpointFolder.Open(CheckpointTestFiles.TinyInternVl);
        var embed = folder.Read("language_model.model.embed_tokens.weight");
        Assert.Equal([96L, 32L], embed.shape);
        Assert.True(embed.abs().max().item<float>() > 0);
        Assert.True(embed.std().item<float>() > 1e-3);
    }

    [Theory]
    [InlineData("tiny-internvl-internlm2", 55, 267264L)]
    [InlineData("tiny-internvl-internlm2/ref-model", 55, 267264L)]
    [InlineData("tiny-internvl/ref-model", 65, 267776L)]
    public void SingleFileFoldersOpen(string relative, int count, long totalSize)
    {
        using var scope = torch.NewDisposeScope();
        var directory = Path.Combine(AppContext.BaseDirectory, "TestData", relative);
        using var folder = CheckpointFolder.Open(directory);
        Assert.Null(folder.IndexPath);
        Assert.Null(folder.DeclaredTotalSize);
        Assert.Single(folder.Shards);
        Assert.Equal(count, folder.Names.Count);
        Assert.Equal(totalSize, folder.TotalSize);
        foreach (var name in folder.Names)
        {
            using var inner = torch.NewDisposeScope();
            Assert.Equal(CheckpointTestFiles.RawTensorBytes(Path.Combine(directory, CheckpointFolder.SingleFileName), name), folder.Read(name).bytes.ToArray());
        }
    }

    [Fact]
    public void PolicyAndReferenceModelsDiffer()
    {
        using var scope = torch.NewDisposeScope();
        using var policy = CheckpointFolder.Open(CheckpointTestFiles.TinyInternVl);
        using var reference = CheckpointFolder.Open(Path.Combine(CheckpointTestFiles.TinyInternVl, "ref-model"));
        Assert.Equal(policy.Names.Order(StringComparer.Ordinal), reference.Names.Order(StringComparer.Ordinal));
        Assert.False(policy.Read("mlp1.1.weight").Equals(reference.Read("mlp1.1.weight")));
    }

    [Fact]
    public void MissingFolderEmptyFolderAndUnknownTensorNameTheFolder()
    {
        using var temp = new TempFolder();
        var missing = Path.Combine(temp.Path, "nothing-here");
        Assert.Contains("nothing-here", Assert.Throws<DirectoryNotFoundException>(() => CheckpointFolder.Open(missing)).Message);

        var e = Assert.Throws<FileNotFoundException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains(temp.Path, e.Message);
        Assert.Contains("model.safetensors", e.Message);

        using var folder = CheckpointFolder.Open(CheckpointTestFiles.TinyInternVl);
        var k = Assert.Throws<KeyNotFoundException>(() => folder.Read("lm_head.weight"));
        Assert.Contains("lm_head.weight", k.Message);
        Assert.Contains("tiny-internvl", k.Message);
    }

    [Theory]
    [InlineData("pytorch_model.bin")]
    [InlineData("pytorch_model.bin.index.json")]
    public void PickleCheckpointsAreRefused(string fileName)
    {
        using var temp = new TempFolder();
        // Not a real pickle: nothing may even look inside it.
        temp.Write(fileName, "this would be a pickle"u8.ToArray());
        var e = Assert.Throws<NotSupportedException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains(fileName, e.Message);
        Assert.Contains("pickle", e.Message);
        Assert.Contains("safetensors", e.Message);
        Assert.Contains(temp.Path, e.Message);
    }

    /// <summary>A copy of the sharded fixture whose index is replaced by <paramref name="index"/>.</summary>
    private static TempFolder FixtureWithIndex(string index)
    {
        var temp = new TempFolder();
        foreach (var shard in new[] { Shard1, Shard2 })
            File.Copy(Path.Combine(CheckpointTestFiles.TinyInternVl, shard), temp.File(shard));
        temp.Write(CheckpointFolder.IndexFileName, index);
        return temp;
    }

    private static string IndexJson(Dictionary<string, string> weightMap) =>
        JsonSerializer.Serialize(new { metadata = new { total_size = 267776 }, weight_map = weightMap });

    [Theory]
    [InlineData("../x.safetensors", "..")]
    [InlineData("sub/../../x.safetensors", "..")]
    [InlineData("/etc/model.safetensors", "absolute")]
    [InlineData("..\\x.safetensors", "backslash")]
    [InlineData("pytorch_model-00001-of-00002.bin", "pickle")]
    [InlineData("", "empty")]
    public void IndexShardNamesMustStayInsideTheFolder(string shard, string word)
    {
        var map = FixtureWeightMap();
        map["mlp1.3.bias"] = shard;
        using var temp = FixtureWithIndex(IndexJson(map));
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains(CheckpointFolder.IndexFileName, e.Message);
        Assert.Contains("mlp1.3.bias", e.Message);
        Assert.Contains(word, e.Message);
    }

    [Fact]
    public void IndexListingATensorItsShardLacks()
    {
        var map = FixtureWeightMap();
        map["language_model.model.layers.9.mlp.up_proj.weight"] = Shard2;
        using var temp = FixtureWithIndex(IndexJson(map));
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains(CheckpointFolder.IndexFileName, e.Message);
        Assert.Contains("language_model.model.layers.9.mlp.up_proj.weight", e.Message);
        Assert.Contains("does not hold it", e.Message);
    }

    [Fact]
    public void ShardHoldingATensorTheIndexDoesNotList()
    {
        var map = FixtureWeightMap();
        map.Remove("mlp1.3.bias");
        using var temp = FixtureWithIndex(IndexJson(map));
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains("mlp1.3.bias", e.Message);
        Assert.Contains(Shard2, e.Message);
        Assert.Contains("does not list", e.Message);
    }

    [Fact]
    public void IndexMappingATensorToTheWrongShard()
    {
        var map = FixtureWeightMap();
        map["mlp1.3.bias"] = Shard1;
        using var temp = FixtureWithIndex(IndexJson(map));
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains("mlp1.3.bias", e.Message);
        Assert.Contains("maps it to", e.Message);
    }

    [Fact]
    public void IndexPointingToAMissingShard()
    {
        var map = FixtureWeightMap();
        map["mlp1.3.bias"] = "model-00003-of-00003.safetensors";
        using var temp = FixtureWithIndex(IndexJson(map));
        var e = Assert.Throws<FileNotFoundException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains("model-00003-of-00003.safetensors", e.Message);
    }

    [Theory]
    [InlineData("{\"weight_map\": ", "not valid JSON")]
    [InlineData("[]", "not an object")]
    [InlineData("{\"metadata\": {}}", "weight_map")]
    [InlineData("{\"weight_map\": {}}", "empty")]
    [InlineData("{\"weight_map\": {\"a\": 3}}", "not a shard file name")]
    [InlineData("{\"metadata\": {\"total_size\": \"big\"}, \"weight_map\": {\"a\": \"model.safetensors\"}}", "total_size")]
    public void MalformedIndexes(string index, string word)
    {
        using var temp = FixtureWithIndex(index);
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains(CheckpointFolder.IndexFileName, e.Message);
        Assert.Contains(word, e.Message);
    }

    [Fact]
    public void ACorruptShardFailsTheFolderWithTheShardsName()
    {
        using var temp = FixtureWithIndex(File.ReadAllText(Path.Combine(CheckpointTestFiles.TinyInternVl, CheckpointFolder.IndexFileName)));
        var shard = temp.File(Shard2);
        var bytes = File.ReadAllBytes(shard);
        File.WriteAllBytes(shard, bytes[..^100]);
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(temp.Path));
        Assert.Contains(Shard2, e.Message);
        Assert.Contains("truncated", e.Message);
    }
}
