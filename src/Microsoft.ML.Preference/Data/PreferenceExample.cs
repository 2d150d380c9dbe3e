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
/// <param name="MaxDynamicPatch">
/// The row's own most tiles per image (an MMPR data set's <c>max_dynamic_patch</c> in meta.json), or null for the
/// model's. InternVL's MPO training script tiles every row of such a data set with it (<c>build_datasets</c> in
/// internvl_chat/internvl/train/internvl_chat_mpo.py).
/// </param>
internal sealed record PreferenceExample(long RowIndex, IReadOnlyList<ImageSource> Images, string Prompt, string Chosen, string Rejected,
    int? MaxDynamicPatch = null);

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
    /// <summary>Chosen and rejected differ only in tokens that truncation to the maximum length cut: the pair would train on no signal.</summary>
    IdenticalAfterTruncation,
    /// <summary>An image has more pixels than the limit (<c>ImageTilingOptions.MaxImagePixels</c>).</summary>
    ImageTooLarge,
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

/// <summary>
/// A row that cannot be used, with the reason. The facts are properties, for callers that count or report rows:
/// <see cref="RowIndex"/> (0-based position in the input), <see cref="Reason"/>, <see cref="Detail"/> and, when the
/// rows came from a file whose lines are known, <see cref="SourceFile"/> and <see cref="SourceLine"/> (1-based).
/// </summary>
public sealed class BadRowException : Exception
{
    /// <summary>Creates the error for row <paramref name="rowIndex"/> (0-based).</summary>
    public BadRowException(long rowIndex, BadRowReason reason, string detail, Exception? inner = null)
        : this(rowIndex, reason, detail, null, null, inner)
    {
    }

    /// <summary>Creates the error for row <paramref name="rowIndex"/> (0-based), found at a 1-based line of a file.</summary>
    public BadRowException(long rowIndex, BadRowReason reason, string detail, string? sourceFile, long? sourceLine, Exception? inner = null)
        : base(Describe(rowIndex, reason, detail, sourceFile, sourceLine), inner)
    {
        RowIndex = rowIndex;
        Reason = reason;
        Detail = detail;
        SourceFile = sourceFile;
        SourceLine = sourceLine;
    }

    /// <summary>The row's position in the input, counted from 0 (the message counts from 1).</summary>
    public long RowIndex { get; }

    /// <summary>The row's position counted from 1, as messages show it.</summary>
    public long RowNumber => RowIndex + 1;

    /// <summary>What is wrong with it.</summary>
    public BadRowReason Reason { get; }

    /// <summary>The specifics, as the end of a sentence ("the prompt is empty").</summary>
    public string Detail { get; }

    /// <summary>The file the row was read from, when known.</summary>
    public string? SourceFile { get; }

    /// <summary>The row's line in <see cref="SourceFile"/>, counted from 1, when known.</summary>
    public long? SourceLine { get; }

    /// <summary>
    /// The same error placed in its file: <paramref name="lineOfRow"/> maps a 0-based row index to its 1-based line
    /// (null when the row is not in the file, which leaves the error as it is).
    /// </summary>
    public BadRowException WithSource(string file, Func<long, long?> lineOfRow)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(lineOfRow);
        return lineOfRow(RowIndex) is long line ? new BadRowException(RowIndex, Reason, Detail, file, line, InnerException) : this;
    }

    private static string Describe(long rowIndex, BadRowReason reason, string detail, string? file, long? line) =>
        file is not null && line is long l
            ? $"{file}:{l}: bad row (data row {rowIndex + 1}): {reason}: {detail}"
            : $"Data row {rowIndex + 1} (counted from 1): {reason}: {detail}";
}
