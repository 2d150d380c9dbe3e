namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>A data row cannot be turned into a prompt: its images and placeholders disagree, or it cannot be made to fit.</summary>
public class PromptBuildException : InvalidOperationException
{
    /// <summary>Creates the exception; the message should already name the row.</summary>
    /// <param name="message">What is wrong, with the row.</param>
    /// <param name="rowIndex">The row, when the caller gave one.</param>
    /// <param name="inner">The exception that revealed the problem, if any.</param>
    public PromptBuildException(string message, long? rowIndex, Exception? inner = null)
        : base(message, inner)
    {
        RowIndex = rowIndex;
    }

    /// <summary>The row at fault (0-based; messages count from 1), when the caller gave one.</summary>
    public long? RowIndex { get; }

    /// <summary>"Row 12" (counted from 1, as a user counts data rows) or "The row", to start messages.</summary>
    internal static string RowName(long? rowIndex) =>
        rowIndex is long r ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Row {r + 1}") : "The row";
}

/// <summary>
/// A row's images and template text alone are longer than the maximum length: no truncation of text can make it fit
/// (image tokens are never cut, since the model needs one per visual token).
/// </summary>
public sealed class PromptTooLongException : PromptBuildException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What does not fit, with the row.</param>
    /// <param name="rowIndex">The row, when given.</param>
    /// <param name="maxLength">The maximum length.</param>
    /// <param name="minimumLength">The shortest the row can be made (images, template text, one response token).</param>
    /// <param name="imageTokens">Its image tokens (markers included).</param>
    public PromptTooLongException(string message, long? rowIndex, int maxLength, int minimumLength, int imageTokens)
        : base(message, rowIndex)
    {
        MaxLength = maxLength;
        MinimumLength = minimumLength;
        ImageTokens = imageTokens;
    }

    /// <summary>The maximum length that was asked for.</summary>
    public int MaxLength { get; }

    /// <summary>The shortest the row can be made.</summary>
    public int MinimumLength { get; }

    /// <summary>The row's image tokens, <c>&lt;img&gt;</c> and <c>&lt;/img&gt;</c> included.</summary>
    public int ImageTokens { get; }
}
