using System.Runtime.InteropServices;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Modeling.Checkpoints;

public class SafetensorsFileTests
{
    // dtypes.safetensors holds these float32 values as values_f32 [2, 4], and the same values as BF16 and F16.
    private static readonly float[] ProbeValues = [1.0f, -2.5f, 0.15625f, 24576.0f, -0.0f, 0.015625f, -7.75f, 96.0f];

    public SafetensorsFileTests() => TorchRuntime.Initialize();

    private static ushort[] Halves(torch.Tensor t) => MemoryMarshal.Cast<byte, ushort>(t.bytes).ToArray();

    private static int[] FloatBits(torch.Tensor t) => t.data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void DTypesProbeFileHoldsExactValuesInEveryDType()
    {
        using var scope = torch.NewDisposeScope();
        using var file = SafetensorsFile.Open(CheckpointTestFiles.DTypesFile);
        Assert.Equal(["values_f32", "values_bf16", "values_f16", "ints_i64"], file.Names);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("dtype probe", file.Metadata["purpose"]);
        Assert.Equal(96, file.TotalTensorBytes);

        var f32 = file.Read("values_f32");
        Assert.Equal(torch.ScalarType.Float32, f32.dtype);
        Assert.Equal([2L, 4L], f32.shape);
        // Bit patterns, so that -0.0 is told apart from 0.0.
        Assert.Equal(ProbeValues.Select(BitConverter.SingleToInt32Bits), FloatBits(f32));

        var bf16 = file.Read("values_bf16");
        Assert.Equal(torch.ScalarType.BFloat16, bf16.dtype);
        Assert.Equal([2L, 4L], bf16.shape);
        Assert.Equal(new ushort[] { 0x3f80, 0xc020, 0x3e20, 0x46c0, 0x8000, 0x3c80, 0xc0f8, 0x42c0 }, Halves(bf16));
        Assert.Equal(Halves(f32.to(torch.bfloat16)), Halves(bf16));

        var f16 = file.Read("values_f16");
        Assert.Equal(torch.ScalarType.Float16, f16.dtype);
        Assert.Equal(new ushort[] { 0x3c00, 0xc100, 0x3100, 0x7600, 0x8000, 0x2400, 0xc7c0, 0x5600 }, Halves(f16));
        Assert.Equal(Halves(f32.to(torch.float16)), Halves(f16));

        var ints = file.Read("ints_i64");
        Assert.Equal(torch.ScalarType.Int64, ints.dtype);
        Assert.Equal([4L], ints.shape);
        Assert.Equal([0L, -1L, 1L << 40, 151648L], ints.data<long>().ToArray());
    }

    [Fact]
    public void ReadConvertsToTheRequestedDType()
    {
        using var scope = torch.NewDisposeScope();
        using var file = SafetensorsFile.Open(CheckpointTestFiles.DTypesFile);

        // Every probe value is exact in bf16 and f16, so widening them gives the float32 values back bit for bit.
        Assert.Equal(ProbeValues.Select(BitConverter.SingleToInt32Bits), FloatBits(file.Read("values_bf16", torch.float32)));
        Assert.Equal(ProbeValues.Select(BitConverter.SingleToInt32Bits), FloatBits(file.Read("values_f16", torch.float32)));
        Assert.Equal(ProbeValues.Select(v => (double)v), file.Read("values_f32", torch.float64).data<double>().ToArray());
        Assert.Equal(Halves(file.Read("values_bf16")), Halves(file.Read("values_f32", torch.bfloat16)));
        Assert.Equal([0.0, -1.0, 1099511627776.0, 151648.0], file.Read("ints_i64", torch.float64).data<double>().ToArray());
    }

    [Fact]
    public void ReadRoundsLikeTensorToWhenNarrowing()
    {
        using var scope = torch.NewDisposeScope();
        using var folder = new TempFolder();
        // Values that bf16 cannot hold: the reader's conversion must round exactly as torch's .to does.
        var values = torch.tensor(new[] { 1.00390625f, 3.14159265f, -1e-3f, 65504.5f, 1e-40f, float.MaxValue }, dtype: torch.float32);
        var path = folder.File("rounding.safetensors");
        SafetensorsWriter.Write(path, [("v", values)]);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(Halves(values.to(torch.bfloat16)), Halves(file.Read("v", torch.bfloat16)));
        Assert.Equal(Halves(values.to(torch.float16)), Halves(file.Read("v", torch.float16)));
    }

    [Fact]
    public void CopyIntoFillsAParameterAndConvertsItsDType()
    {
        using var scope = torch.NewDisposeScope();
        using var file = SafetensorsFile.Open(CheckpointTestFiles.DTypesFile);
        var parameter = torch.nn.Parameter(torch.zeros(2, 4, dtype: torch.float64));
        file.CopyInto("values_bf16", parameter);
        Assert.True(parameter.requires_grad);
        Assert.Equal(ProbeValues.Select(v => (double)v), parameter.data<double>().ToArray());
    }

    [Theory]
    [InlineData("values_f32")]
    [InlineData("values_bf16")]
    [InlineData("ints_i64")]
    public void CopyIntoTheStoredDTypeGivesTheStoredBitsContiguousOrNot(string name)
    {
        // Same dtype and contiguous: the bytes go straight from the map; a strided destination goes through a copy.
        using var scope = torch.NewDisposeScope();
        using var file = SafetensorsFile.Open(CheckpointTestFiles.DTypesFile);
        var stored = file.Read(name);
        var parameter = torch.nn.Parameter(torch.zeros_like(stored), requires_grad: stored.is_floating_point());
        file.CopyInto(name, parameter);
        Assert.Equal(stored.bytes.ToArray(), parameter.bytes.ToArray());
        Assert.Equal(stored.is_floating_point(), parameter.requires_grad);
        var strided = torch.zeros([.. stored.shape, 2], dtype: stored.dtype).select(-1, 0);
        Assert.False(strided.is_contiguous());
        file.CopyInto(name, strided);
        Assert.True(stored.eq(strided).all().item<bool>());
    }

    [Fact]
    public void CopyIntoAWrongShapeNamesTheTensorAndBothShapes()
    {
        using var scope = torch.NewDisposeScope();
        using var file = SafetensorsFile.Open(CheckpointTestFiles.DTypesFile);
        var destination = torch.zeros(4, 2);
        var e = Assert.Throws<ArgumentException>(() => file.CopyInto("values_f32", destination));
        Assert.Contains("values_f32", e.Message);
        Assert.Contains("[2, 4]", e.Message);
        Assert.Contains("[4, 2]", e.Message);
        Assert.Equal(0f, destination.abs().sum().item<float>());
    }

    [Fact]
    public void MissingTensorAndUseAfterDisposeAreClearErrors()
    {
        var file = SafetensorsFile.Open(CheckpointTestFiles.DTypesFile);
        var e = Assert.Throws<KeyNotFoundException>(() => file.Read("nope"));
        Assert.Contains("nope", e.Message);
        Assert.Contains("dtypes.safetensors", e.Message);
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.Read("values_f32"));
        file.Dispose();
    }

    [Fact]
    public void WriterReproducesTheProbeFileByteForByte()
    {
        using var scope = torch.NewDisposeScope();
        using var folder = new TempFolder();
        using var probe = SafetensorsFile.Open(CheckpointTestFiles.DTypesFile);
        var path = folder.File("dtypes.safetensors");
        SafetensorsWriter.Write(path, probe.Names.Select(n => (n, probe.Read(n))), probe.Metadata);
        Assert.Equal(File.ReadAllBytes(CheckpointTestFiles.DTypesFile), File.ReadAllBytes(path));
        Assert.Equal(["dtypes.safetensors"], Directory.GetFiles(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void WriterRoundTripsEveryDTypeScalarsAndEmptyTensors()
    {
        using var scope = torch.NewDisposeScope();
        using var folder = new TempFolder();
        var tensors = new (string Name, torch.Tensor Tensor)[]
        {
            ("f64", torch.tensor(new[] { Math.PI, -Math.E }, dtype: torch.float64)),
            ("f32_scalar", torch.tensor(2.5f)),
            ("f16", torch.tensor(new[] { 0.5f, -3f }).to(torch.float16)),
            ("bf16", torch.tensor(new[] { 0.25f, 7f, 9f }).to(torch.bfloat16).reshape(3, 1)),
            ("i64", torch.tensor(new[] { long.MinValue, long.MaxValue })),
            ("i32", torch.tensor(new[] { int.MinValue, 7 })),
            ("i16", torch.tensor(new short[] { -300, 300 })),
            ("i8", torch.tensor(new sbyte[] { -128, 127 })),
            ("u8", torch.tensor(new byte[] { 0, 255 })),
            ("bool", torch.tensor(new[] { true, false, true })),
            ("empty", torch.zeros(0, 3)),
            ("transposed", torch.arange(6, dtype: torch.float32).reshape(2, 3).t()),
        };
        var path = folder.File("all.safetensors");
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["note"] = "x+y <z>" });

        var bytes = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        Assert.Equal(0, (8 + headerLength) % 8);
        Assert.StartsWith("{\"__metadata__\":{\"note\":\"x+y <z>\",\"format\":\"pt\"},", System.Text.Encoding.UTF8.GetString(bytes, 8, (int)headerLength));

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(tensors.Select(t => t.Name), file.Names);
        Assert.Equal("x+y <z>", file.Metadata["note"]);
        foreach (var (name, expected) in tensors)
        {
            var actual = file.Read(name);
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(expected.Equals(actual), name);
        }
        Assert.Equal(SafetensorsTensorInfoOf(file, "f32_scalar").Shape, Array.Empty<long>());
        Assert.Equal(0, SafetensorsTensorInfoOf(file, "empty").ByteLength);
    }

    private static SafetensorsTensorInfo SafetensorsTensorInfoOf(SafetensorsFile file, string name) => file.Tensors[name];

    [Fact]
    public void WriterRefusesBadNamesBeforeWritingAnything()
    {
        using var scope = torch.NewDisposeScope();
        using var folder = new TempFolder();
        var path = folder.File("bad.safetensors");
        var t = torch.zeros(2);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [("a", t), ("a", t)]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [("__metadata__", t)]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [("", t)]));
        Assert.Throws<NotSupportedException>(() => SafetensorsWriter.Write(path, [("c", torch.zeros(2, dtype: torch.complex64))]));
        Assert.Empty(Directory.GetFiles(folder.Path));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void ChunkedCopiesCoverEveryByte(int threads)
    {
        using var scope = torch.NewDisposeScope();
        var source = Enumerable.Range(0, 40).Select(i => (byte)(i * 7)).ToArray();
        var destination = torch.empty(10, dtype: torch.float32);
        var pin = GCHandle.Alloc(source, GCHandleType.Pinned);
        try
        {
            // 3 floats a chunk: 4 chunks, the last one short, shared by up to 3 threads.
            TensorBytes.CopyFrom(pin.AddrOfPinnedObject(), source.Length, destination, chunkBytes: 12, threads: threads);
        }
        finally
        {
            pin.Free();
        }
        Assert.Equal(source, destination.bytes.ToArray());

        using var stream = new MemoryStream();
        TensorBytes.WriteTo(destination, stream, chunkBytes: 8);
        Assert.Equal(source, stream.ToArray());
    }

    [Fact]
    public void AddressIsTheFirstByteOfTheTensor()
    {
        using var scope = torch.NewDisposeScope();
        var tensor = torch.arange(6, dtype: torch.int32).reshape(2, 3);
        Assert.Equal(0, Marshal.ReadInt32(TensorBytes.Address(tensor)));
        Assert.Equal(4, Marshal.ReadInt32(TensorBytes.Address(tensor[1].narrow(0, 1, 2))));
    }
}
