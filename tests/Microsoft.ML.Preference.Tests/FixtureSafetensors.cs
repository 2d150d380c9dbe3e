using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests;

/// <summary>
/// A minimal safetensors reader for the test fixtures (F32 and I64 only): u64-LE header length, JSON header, raw
/// little-endian data. Test-only; not the package's checkpoint reader.
/// </summary>
internal sealed class FixtureSafetensors
{
    private readonly byte[] _bytes;
    private readonly JsonElement _header;
    private readonly long _dataStart;

    private FixtureSafetensors(byte[] bytes)
    {
        _bytes = bytes;
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        _header = doc.RootElement.Clone();
        _dataStart = 8 + headerLength;
    }

    public static FixtureSafetensors Load(params string[] path) =>
        new(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", Path.Combine(path))));

    public Tensor this[string name]
    {
        get
        {
            var info = _header.GetProperty(name);
            var shape = info.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = info.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var span = _bytes.AsSpan((int)(_dataStart + offsets[0]), (int)(offsets[1] - offsets[0]));
            return info.GetProperty("dtype").GetString() switch
            {
                "F32" => torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span).ToArray(), shape),
                "I64" => torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(span).ToArray(), shape),
                var d => throw new NotSupportedException($"{name}: dtype {d} is not read by the test reader."),
            };
        }
    }
}
