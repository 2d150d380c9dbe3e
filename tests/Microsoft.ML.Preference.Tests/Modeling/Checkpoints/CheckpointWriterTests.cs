using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Modeling.Checkpoints;

public class CheckpointWriterTests
{
    private const long FixtureShardBytes = 160000;

    public CheckpointWriterTests() => TorchRuntime.Initialize();

    [Theory]
    [InlineData(new long[] { 5, 5, 5 }, 10, "0-2,2-3")]
    [InlineData(new long[] { 5, 5 }, 10, "0-2")]              // exactly at the limit stays together
    [InlineData(new long[] { 3, 20, 3 }, 10, "0-1,1-2,2-3")]  // an oversize tensor is alone
    [InlineData(new long[] { 20, 3 }, 10, "0-1,1-2")]
    [InlineData(new long[] { 20 }, 10, "0-1")]
    [InlineData(new long[] { 0, 0, 10, 0 }, 10, "0-4")]
    [InlineData(new long[] { }, 10, "0-0")]
    public void ShardPlanFollowsHuggingFace(long[] sizes, long max, string expected)
    {
        var plan = CheckpointShardPlanner.Plan(sizes, max);
        Assert.Equal(expected, string.Join(",", plan.Select(r => $"{r.Start.Value}-{r.End.Value}")));
    }

    [Fact]
    public void ShardFileNamesAreHuggingFaces()
    {
        Assert.Equal("model.safetensors", CheckpointShardPlanner.ShardFileName(0, 1));
        Assert.Equal("model-00003-of-00012.safetensors", CheckpointShardPlanner.ShardFileName(2, 12));
    }

    [Fact]
    public void FixtureRoundTripReproducesItsShardsAndIndexByteForByte()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        using var fixture = CheckpointFolder.Open(CheckpointTestFiles.TinyInternVl);
        var tensors = fixture.Names.Select(n => (n, fixture.Read(n))).ToList();

        var result = CheckpointWriter.Save(temp.Path, tensors, FixtureShardBytes);

        Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], result.ShardFiles);
        Assert.Equal(CheckpointFolder.IndexFileName, result.IndexFile);
        Assert.Equal(267776L, result.TotalSize);
        Assert.Equal(CheckpointFolderTests.FixtureWeightMap().OrderBy(e => e.Key, StringComparer.Ordinal),
            result.WeightMap.OrderBy(e => e.Key, StringComparer.Ordinal));
        // Same split, same header layout, same data: the files are the fixture's files.
        foreach (var file in result.ShardFiles.Append(CheckpointFolder.IndexFileName))
            Assert.True(File.ReadAllBytes(Path.Combine(CheckpointTestFiles.TinyInternVl, file)).AsSpan().SequenceEqual(File.ReadAllBytes(temp.File(file))), file);
        Assert.Equal(3, Directory.GetFiles(temp.Path).Length);

        using var reread = CheckpointFolder.Open(temp.Path);
        Assert.Equal(fixture.Names, reread.Names);
        Assert.Equal(267776L, reread.DeclaredTotalSize);
        foreach (var (name, original) in tensors)
        {
            using var inner = torch.NewDisposeScope();
            Assert.Equal(Path.GetFileName(fixture.ShardOf(name).Path), Path.GetFileName(reread.ShardOf(name).Path));
            Assert.Equal(original.bytes.ToArray(), reread.Read(name).bytes.ToArray());
        }
    }

    [Fact]
    public void SingleFileSaveAndStaleFilesOfTheOtherLayoutAreRemoved()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        using var fixture = CheckpointFolder.Open(CheckpointTestFiles.TinyInternVl);
        var tensors = fixture.Names.Select(n => (n, fixture.Read(n))).ToList();
        temp.Write("config.json", "{}");

        CheckpointWriter.Save(temp.Path, tensors, FixtureShardBytes);
        var single = CheckpointWriter.Save(temp.Path, tensors);
        Assert.Equal(["model.safetensors"], single.ShardFiles);
        Assert.Null(single.IndexFile);
        Assert.Equal(["config.json", "model.safetensors"], Directory.GetFiles(temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        using (var reread = CheckpointFolder.Open(temp.Path))
        {
            Assert.Null(reread.IndexPath);
            Assert.Equal(fixture.Names, reread.Names);
            foreach (var (name, original) in tensors)
                Assert.Equal(original.bytes.ToArray(), reread.Read(name).bytes.ToArray());
        }

        // And back: the single file goes, the shards and index come.
        CheckpointWriter.Save(temp.Path, tensors, FixtureShardBytes);
        Assert.Equal(["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"],
            Directory.GetFiles(temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void DTypeAppliesToFloatsOnlyAndShardSizesFollowIt()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        var tensors = new (string, torch.Tensor)[]
        {
            ("a", torch.linspace(-3, 3, 100, dtype: torch.float32)),   // 400 bytes as F32, 200 as BF16
            ("ids", torch.arange(10, dtype: torch.int64)),            // 80 bytes, stays I64
            ("b", torch.linspace(0, 1, 100, dtype: torch.float64)),   // 800 bytes as F64, 200 as BF16
        };
        var result = CheckpointWriter.Save(temp.Path, tensors, maxShardBytes: 300, dtype: torch.bfloat16);
        // Stored sizes 200, 80, 200 against 300: [a, ids] (280 bytes), [b]. Planned on the original
        // sizes (400, 80, 800) the split would have been [a], [ids], [b].
        Assert.Equal(480L, result.TotalSize);
        Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], result.ShardFiles);

        using var folder = CheckpointFolder.Open(temp.Path);
        Assert.Equal("BF16", folder.GetInfo("a").DType);
        Assert.Equal("I64", folder.GetInfo("ids").DType);
        Assert.Equal("BF16", folder.GetInfo("b").DType);
        Assert.True(folder.Read("a").Equals(tensors[0].Item2.to(torch.bfloat16)));
        Assert.True(folder.Read("ids").Equals(tensors[1].Item2));
        Assert.True(folder.Read("b").Equals(tensors[2].Item2.to(torch.bfloat16)));
        Assert.Equal(["a", "ids"], folder.Shards[0].Names);
        Assert.Equal(["b"], folder.Shards[1].Names);
    }

    [Fact]
    public void AnOversizeTensorGetsItsOwnShard()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        var tensors = new (string, torch.Tensor)[]
        {
            ("small1", torch.ones(4)), ("big", torch.ones(100)), ("small2", torch.ones(4)), ("small3", torch.ones(4)),
        };
        var result = CheckpointWriter.Save(temp.Path, tensors, maxShardBytes: 64);
        Assert.Equal(3, result.ShardFiles.Count);
        using var folder = CheckpointFolder.Open(temp.Path);
        Assert.Equal([["small1"], ["big"], ["small2", "small3"]], folder.Shards.Select(s => s.Names.ToArray()));
    }

    [Fact]
    public void SaveRefusesBadArgumentsBeforeWriting()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempFolder();
        var target = Path.Combine(temp.Path, "out");
        Assert.Throws<ArgumentOutOfRangeException>(() => CheckpointWriter.Save(target, [("a", torch.ones(2))], maxShardBytes: 0));
        Assert.Throws<ArgumentException>(() => CheckpointWriter.Save(target, [("a", torch.ones(2))], dtype: torch.int32));
        Assert.Throws<ArgumentException>(() => CheckpointWriter.Save(target, [("a", torch.ones(2)), ("a", torch.ones(2))]));
        Assert.False(Directory.Exists(target));
    }
}
