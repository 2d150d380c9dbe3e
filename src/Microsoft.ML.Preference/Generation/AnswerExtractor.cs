using System.Text.RegularExpressions;

namespace Microsoft.ML.Preference.Generation;

/// <summary>The answer read from a response, or why none could be read.</summary>
/// <param name="Answer">The extracted answer (null on a format failure).</param>
/// <param name="FormatFailure">Why the response does not follow the expected format (null when it does).</param>
public sealed record ExtractedAnswer(string? Answer, string? FormatFailure)
{
    /// <summary>True when an answer was found.</summary>
    public bool Succeeded => Answer is not null;
}

/// <summary>
/// Reads the final answer of a response. Chain of thought: the text after the last "Final answer:" on its line;
/// more than two such markers, or an empty answer, is a format failure (the MMPR correctness pipeline's rule).
/// Direct: the whole response, trimmed, without a leading "Final answer:" if the model wrote one anyway.
/// </summary>
public static partial class AnswerExtractor
{
    private const string Marker = "Final answer:";

    /// <summary>Extracts the answer of <paramref name="response"/> written in <paramref name="mode"/>.</summary>
    public static ExtractedAnswer Extract(string response, AnswerMode mode = AnswerMode.ChainOfThought)
    {
        ArgumentNullException.ThrowIfNull(response);
        var matches = MarkerPattern().Matches(response);
        if (mode == AnswerMode.Direct && matches.Count == 0)
        {
            var text = response.Trim();
            return text.Length == 0 ? new(null, "empty response") : new(FirstLine(text), null);
        }
        if (matches.Count == 0)
            return new(null, $"no \"{Marker}\" line");
        if (matches.Count > 2)
            return new(null, $"{matches.Count} \"{Marker}\" markers (at most two allowed)");
        var last = matches[^1];
        var rest = response[(last.Index + last.Length)..];
        var answer = FirstLine(rest).Trim();
        if (answer.Length == 0)
            return new(null, $"nothing after the last \"{Marker}\" on its line");
        return new(answer, null);
    }

    private static string FirstLine(string text)
    {
        var trimmed = text.TrimStart(' ', '\t');
        int end = trimmed.IndexOfAny(['\r', '\n']);
        return (end < 0 ? trimmed : trimmed[..end]).Trim();
    }

    [GeneratedRegex(@"final\s+answer\s*:", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MarkerPattern();
}
