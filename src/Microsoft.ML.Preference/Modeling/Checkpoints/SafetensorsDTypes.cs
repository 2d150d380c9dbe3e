using TorchSharp;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// The safetensors dtype names this package reads and writes, and their TorchSharp counterparts.
/// </summary>
/// <remarks>
/// Only dtypes that TorchSharp can hold without reinterpretation are listed. The newer safetensors names
/// (F8_E4M3, U16, U32, U64, ...) are refused by name rather than guessed at, so a file that uses them fails
/// with a message instead of loading wrong numbers.
/// </remarks>
internal static class SafetensorsDTypes
{
    private static readonly (string Name, torch.ScalarType Type, int Size)[] Table =
    [
        ("F64", torch.ScalarType.Float64, 8),
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("I16", torch.ScalarType.Int16, 2),
        ("I8", torch.ScalarType.Int8, 1),
        ("U8", torch.ScalarType.Byte, 1),
        ("BOOL", torch.ScalarType.Bool, 1),
    ];

    /// <summary>The dtype names accepted in a safetensors header, in the order of the table above.</summary>
    public static IReadOnlyList<string> Names { get; } = Array.AsReadOnly(Table.Select(t => t.Name).ToArray());

    /// <summary>Looks up a header dtype name (case-sensitive, as the format defines it).</summary>
    /// <returns>False for any name not in <see cref="Names"/>.</returns>
    public static bool TryParse(string name, out torch.ScalarType type, out int elementSize)
    {
        foreach (var entry in Table)
        {
            if (string.Equals(entry.Name, name, StringComparison.Ordinal))
            {
                type = entry.Type;
                elementSize = entry.Size;
                return true;
            }
        }
        type = default;
        elementSize = 0;
        return false;
    }

    /// <summary>The header name of a TorchSharp dtype.</summary>
    /// <exception cref="NotSupportedException">The dtype has no safetensors name here (complex types, ...).</exception>
    public static string NameOf(torch.ScalarType type)
    {
        foreach (var entry in Table)
        {
            if (entry.Type == type)
                return entry.Name;
        }
        throw new NotSupportedException(
            $"The tensor dtype {type} cannot be stored in safetensors by this package; supported: {string.Join(", ", Names)}.");
    }

    /// <summary>Bytes per element of a TorchSharp dtype, when it has a safetensors name.</summary>
    public static bool TryGetElementSize(torch.ScalarType type, out int elementSize)
    {
        foreach (var entry in Table)
        {
            if (entry.Type == type)
            {
                elementSize = entry.Size;
                return true;
            }
        }
        elementSize = 0;
        return false;
    }

    /// <summary>Bytes per element of a TorchSharp dtype that has a safetensors name.</summary>
    /// <exception cref="NotSupportedException">The dtype has no safetensors name here.</exception>
    public static int ElementSize(torch.ScalarType type) =>
        TryGetElementSize(type, out int size)
            ? size
            : throw new NotSupportedException(
                $"The tensor dtype {type} cannot be stored in safetensors by this package; supported: {string.Join(", ", Names)}.");
}
