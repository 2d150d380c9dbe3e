using System.Text;
using Microsoft.ML.Preference.Modeling.Checkpoints;

namespace Microsoft.ML.Preference.Tests.Modeling.Checkpoints;

/// <summary>
/// Damaged and hostile safetensors files, built from bytes here. Each must fail at Open with an
/// InvalidDataException that names the file and the problem, having allocated next to nothing.
/// </summary>
public class HostileSafetensorsTests
{
    /// <summary>Far below any size a lie in these files asks for (2^38 .. 2^62 bytes), far above what parsing a tiny header costs.</summary>
    private const long AllocationBudget = 4L * 1024 * 1024;

    private static InvalidDataException OpenFails(string fileName, byte[] bytes, params string[] words)
    {
        using var folder = new TempFolder();
        var path = folder.Write(fileName, bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path).Dispose());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < AllocationBudget, $"Open allocated {allocated} bytes before failing");
        Assert.Contains(fileName, e.Message);
        Assert.Equal(path, e.Data[CheckpointFormatErrors.FilePathKey]);
        foreach (var word in words)
            Assert.Contains(word, e.Message, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    [Fact]
    public void TruncatedShard()
    {
        // The header promises 64 bytes of data; the file stops after 32.
        var bytes = CheckpointTestFiles.Build("""{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}""", 32);
        var e = OpenFails("truncated.safetensors", bytes, "past the end", "truncated");
        Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void OffsetsPastEndOfFile()
    {
        var bytes = CheckpointTestFiles.Build("""{"w":{"dtype":"F32","shape":[68719476736],"data_offsets":[0,274877906944]}}""", 16);
        OpenFails("past-eof.safetensors", bytes, "past the end", "274877906944");
    }

    [Fact]
    public void OverlappingRanges()
    {
        var bytes = CheckpointTestFiles.Build(
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""", 24);
        var e = OpenFails("overlap.safetensors", bytes, "overlap");
        Assert.Contains("'a'", e.Message);
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public void TensorInsideAnotherIsAnOverlapToo()
    {
        var bytes = CheckpointTestFiles.Build(
            """{"outer":{"dtype":"U8","shape":[32],"data_offsets":[0,32]},"inner":{"dtype":"U8","shape":[4],"data_offsets":[8,12]},"after":{"dtype":"U8","shape":[4],"data_offsets":[32,36]}}""", 36);
        OpenFails("nested.safetensors", bytes, "overlap", "inner");
    }

    [Fact]
    public void ShapeTimesDTypeIsNotTheByteCount()
    {
        var bytes = CheckpointTestFiles.Build("""{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}""", 16);
        OpenFails("mismatch.safetensors", bytes, "needs 12 bytes", "size mismatch");
    }

    [Fact]
    public void ShapeOfTwoToTheSixtyElements()
    {
        // 2^60 float32 elements are 2^62 bytes: representable, so it fails as a size mismatch, not an allocation.
        var bytes = CheckpointTestFiles.Build("""{"w":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,16]}}""", 16);
        OpenFails("huge-shape.safetensors", bytes, "size mismatch", "1152921504606846976");
    }

    [Fact]
    public void ShapeWhoseByteSizeOverflows()
    {
        // 2^60 x 16 elements overflow 64 bits in the element count itself; 2^61 x F64 in the byte count.
        var count = CheckpointTestFiles.Build("""{"w":{"dtype":"F32","shape":[1152921504606846976,16],"data_offsets":[0,16]}}""", 16);
        OpenFails("overflow-count.safetensors", count, "overflow");
        var bytes = CheckpointTestFiles.Build("""{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,16]}}""", 16);
        OpenFails("overflow-bytes.safetensors", bytes, "overflow");
    }

    [Fact]
    public void HeaderLengthLargerThanTheFile()
    {
        var bytes = CheckpointTestFiles.WithLengthField(1000, Encoding.UTF8.GetBytes("""{"__metadata__":{}}"""));
        OpenFails("short-header.safetensors", bytes, "larger than", "1000");
    }

    [Fact]
    public void HeaderLengthAbsurdlyLarge()
    {
        OpenFails("absurd-header.safetensors", CheckpointTestFiles.WithLengthField(1UL << 62, new byte[64]), "limit", (1UL << 62).ToString());
        // 2^64 - 1 would be -1 as a signed number: it must not slip past the checks.
        OpenFails("max-header.safetensors", CheckpointTestFiles.WithLengthField(ulong.MaxValue, new byte[64]), "limit");
    }

    [Fact]
    public void FileShorterThanTheLengthField()
    {
        OpenFails("tiny.safetensors", [1, 2, 3], "shorter than the 8-byte");
        OpenFails("empty.safetensors", [], "0 bytes");
    }

    [Fact]
    public void InvalidJson()
    {
        OpenFails("bad-json.safetensors", CheckpointTestFiles.Build("""{"w":{"dtype":"F32","shape":[1],""", 4), "not valid JSON");
        OpenFails("array-json.safetensors", CheckpointTestFiles.Build("[1,2,3]", 0), "not a JSON object");
    }

    [Fact]
    public void InvalidUtf8()
    {
        var header = Encoding.UTF8.GetBytes("""{"w\u00e9":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}""");
        header[4] = 0xFF; // breaks the two-byte sequence of é
        var bytes = CheckpointTestFiles.WithLengthField((ulong)header.Length, header);
        OpenFails("bad-utf8.safetensors", bytes, "UTF-8");
    }

    [Fact]
    public void UnknownDType()
    {
        var bytes = CheckpointTestFiles.Build("""{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", 4);
        var e = OpenFails("unknown-dtype.safetensors", bytes, "unknown", "F8_E4M3");
        Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void NegativeDimension()
    {
        var bytes = CheckpointTestFiles.Build("""{"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}}""", 16);
        OpenFails("negative-dim.safetensors", bytes, "negative dimension");
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", "not an integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}""", "end before they begin")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", "non-negative")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","data_offsets":[0,4]}}""", "shape")]
    [InlineData("""{"w":{"shape":[1],"data_offsets":[0,4]}}""", "dtype")]
    [InlineData("""{"w":[1,2]}""", "not an object")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", "twice")]
    [InlineData("""{"__metadata__":{"format":1}}""", "not a string")]
    [InlineData("""{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "empty")]
    public void MalformedEntries(string header, string word) =>
        OpenFails("malformed.safetensors", CheckpointTestFiles.Build(header, 8), word);

    [Fact]
    public void BoolBytesOtherThanZeroAndOneAreRefusedOnRead()
    {
        using var folder = new TempFolder();
        // Build writes data bytes 0, 1, 2, ...: the third "bool" is 2.
        var path = folder.Write("bools.safetensors", CheckpointTestFiles.Build("""{"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}""", 3));
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<InvalidDataException>(() => file.Read("b"));
        Assert.Contains("bools.safetensors", e.Message);
        Assert.Contains("byte value 2", e.Message);
    }

    [Fact]
    public void GapsAndEmptyTensorsAreAccepted()
    {
        using var folder = new TempFolder();
        // Bytes 4..8 belong to nobody; "e" is empty and sits inside "a"'s range without holding any byte.
        var path = folder.Write("gaps.safetensors", CheckpointTestFiles.Build(
            """{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,5],"data_offsets":[2,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}}""", 10));
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["a", "e", "b"], file.Names);
        using var b = file.Read("b");
        Assert.Equal(new byte[] { 8, 9 }, b.data<byte>().ToArray());
        using var empty = file.Read("e");
        Assert.Equal([0L, 5L], empty.shape);
    }
}
