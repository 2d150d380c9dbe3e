using Microsoft.ML.Data;

namespace Microsoft.ML.Preference.Data;

/// <summary>Where a row's image comes from: a file path or an in-memory <see cref="MLImage"/>.</summary>
public abstract record ImageSource
{
    /// <summary>A human description for error messages (the path, or "in-memory image").</summary>
    public abstract string Describe();

    /// <summary>An image file.</summary>
    public sealed record FromFile(string Path) : ImageSource
    {
        /// <inheritdoc/>
        public override string Describe() => Path;
    }

    /// <summary>An image already decoded by ML.NET.</summary>
    public sealed record InMemory(MLImage Image) : ImageSource
    {
        /// <inheritdoc/>
        public override string Describe() => $"in-memory image {Image.Width}x{Image.Height}";
    }
}

/// <summary>One preference row as the trainer reads it from an IDataView.</summary>
/// <param name="RowIndex">Position of the row in the input (0-based): what errors and counts refer to.</param>
/// <param name="Images">The row's images in order (none for a text-only row).</param>
/// <param name="Prompt">The user's question; may hold &lt;image&gt; placeholders.</param>
/// <param name="Chosen">The preferred response.</param>
/// <param name="Rejected">The dispreferred response.</param>
public sealed record PreferenceExample(long RowIndex, IReadOnlyList<ImageSource> Images, string Prompt, string Chosen, string Rejected);

/// <summary>Why a row cannot be trained on.</summary>
public enum BadRowReason
{
    /// <summary>An image file is missing.</summary>
    MissingImage,
    /// <summary>An image cannot be decoded.</summary>
    CorruptImage,
    /// <summary>The prompt, chosen or rejected text is empty.</summary>
    EmptyText,
    /// <summary>Chosen and rejected are the same text: the pair teaches nothing.</summary>
    ChosenEqualsRejected,
    /// <summary>The images and prompt structure alone exceed the maximum length.</summary>
    TooLong,
    /// <summary>The prompt's &lt;image&gt; placeholders do not match the row's images.</summary>
    ImagePlaceholderMismatch,
    /// <summary>The row's line in a data file cannot be read (not JSON, a field missing, an image path leaving its root).</summary>
    MalformedLine,
}

/// <summary>What to do with a bad row.</summary>
public enum BadRowPolicy
{
    /// <summary>Stop with an error naming the row and the reason (the default: nothing is silently dropped).</summary>
    Fail,
    /// <summary>Leave the row out, count it by reason and report the counts.</summary>
    Skip,
}

/// <summary>A row that cannot be used, with the reason.</summary>
public sealed class BadRowException : Exception
{
    /// <summary>Creates the error for row <paramref name="rowIndex"/>.</summary>
    public BadRowException(long rowIndex, BadRowReason reason, string detail, Exception? inner = null)
        : base($"Row {rowIndex}: {reason}: {detail}", inner)
    {
        RowIndex = rowIndex;
        Reason = reason;
    }

    /// <summary>The row's position in the input.</summary>
    public long RowIndex { get; }

    /// <summary>What is wrong with it.</summary>
    public BadRowReason Reason { get; }
}
