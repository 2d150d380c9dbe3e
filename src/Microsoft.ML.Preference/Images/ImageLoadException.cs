namespace Microsoft.ML.Preference.Images;

/// <summary>
/// An image could not be loaded: the file is missing or unreadable, is not an image, or is corrupt or truncated.
/// The message names the file and, when the caller gave one, the data row.
/// </summary>
public sealed class ImageLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The image file (or the name the caller gave the encoded bytes).</param>
    /// <param name="rowIndex">The data row the image belongs to, if known.</param>
    /// <param name="reason">What went wrong, as the end of a sentence ("the file does not exist").</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public ImageLoadException(string path, int? rowIndex, string reason, Exception? innerException = null)
        : base(Describe(path, rowIndex, reason), innerException)
    {
        Path = path;
        RowIndex = rowIndex;
        Reason = reason;
    }

    /// <summary>The image file (or the name given to the encoded bytes).</summary>
    public string Path { get; }

    /// <summary>The data row (0-based; messages count from 1), when the caller passed one.</summary>
    public int? RowIndex { get; }

    /// <summary>The image's pixel count when it was refused for its size (above the pixel limit, or too large to hold); else null.</summary>
    public long? Pixels { get; init; }

    /// <summary>What went wrong, without the file and row.</summary>
    public string Reason { get; }

    private static string Describe(string path, int? rowIndex, string reason) =>
        rowIndex is int row
            ? $"Cannot load image '{path}' (data row {(long)row + 1}): {reason}."
            : $"Cannot load image '{path}': {reason}.";
}
