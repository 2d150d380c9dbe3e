using TorchSharp;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>One tensor entry of a safetensors header, already validated.</summary>
/// <param name="Name">The tensor name (a Hugging Face parameter name such as <c>mlp1.1.weight</c>).</param>
/// <param name="DType">The dtype as written in the header (<c>F32</c>, <c>BF16</c>, ...).</param>
/// <param name="ScalarType">The TorchSharp dtype that holds the stored bytes unchanged.</param>
/// <param name="Shape">The dimensions; empty for a scalar.</param>
/// <param name="DataBegin">First byte of the tensor, relative to the start of the data section.</param>
/// <param name="DataEnd">One past the last byte, relative to the start of the data section.</param>
internal sealed record SafetensorsTensorInfo(
    string Name,
    string DType,
    torch.ScalarType ScalarType,
    IReadOnlyList<long> Shape,
    long DataBegin,
    long DataEnd)
{
    /// <summary>Number of bytes the tensor occupies in the file (<c>DataEnd - DataBegin</c>).</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>Number of elements (the product of <see cref="Shape"/>; 1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (var d in Shape)
                count *= d; // validated at open: cannot overflow
            return count;
        }
    }

    /// <summary>The shape as TorchSharp wants it.</summary>
    public long[] ShapeArray() => [.. Shape];

    /// <summary>The shape formatted like Python's list, for messages: <c>[96, 32]</c>.</summary>
    public string ShapeText => FormatShape(Shape);

    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
