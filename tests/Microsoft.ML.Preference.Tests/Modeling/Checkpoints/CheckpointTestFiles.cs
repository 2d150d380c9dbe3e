using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Microsoft.ML.Preference.Tests.Modeling.Checkpoints;

/// <summary>Paths of the shipped fixtures, and builders for hand-made (hostile) safetensors files.</summary>
internal static class CheckpointTestFiles
{
    public static string TinyInternVl => Path.Combine(AppContext.BaseDirectory, "TestData", "tiny-internvl");

    public static string TinyInternVlInternLm2 => Path.Combine(AppContext.BaseDirectory, "TestData", "tiny-internvl-internlm2");

    public static string DTypesFile => Path.Combine(TinyInternVl, "dtypes.safetensors");

    /// <summary>u64-LE length of <paramref name="headerJson"/> (space-padded to 8), the header, then <paramref name="dataLength"/> bytes 0, 1, 2, ...</summary>
    public static byte[] Build(string headerJson, long dataLength)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        int padded = (header.Length + 7) / 8 * 8;
        var bytes = new byte[8 + padded + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        header.CopyTo(bytes, 8);
        bytes.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        for (long i = 0; i < dataLength; i++)
            bytes[8 + padded + i] = (byte)i;
        return bytes;
    }

    /// <summary>A file whose length field says <paramref name="declaredLength"/>, followed by <paramref name="rest"/>.</summary>
    public static byte[] WithLengthField(ulong declaredLength, byte[] rest)
    {
        var bytes = new byte[8 + rest.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength);
        rest.CopyTo(bytes, 8);
        return bytes;
    }

    /// <summary>
    /// An independent reading of one tensor's raw bytes from a safetensors file (File.ReadAllBytes and
    /// JsonDocument), to check the reader under test against.
    /// </summary>
    public static byte[] RawTensorBytes(string path, string name)
    {
        var file = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        using var header = JsonDocument.Parse(file.AsMemory(8, (int)n));
        var offsets = header.RootElement.GetProperty(name).GetProperty("data_offsets");
        long begin = offsets[0].GetInt64(), end = offsets[1].GetInt64();
        return file.AsSpan((int)(8 + n + begin), (int)(end - begin)).ToArray();
    }
}

/// <summary>A fresh folder under the system temp folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlpref-checkpoint-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        var path = File(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is not a test failure.
        }
    }
}
