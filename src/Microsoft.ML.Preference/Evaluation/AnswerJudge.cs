using System.Globalization;
using System.Text.RegularExpressions;

namespace Microsoft.ML.Preference.Evaluation;

/// <summary>How an answer was compared with its ground truth (chosen from the ground truth's form).</summary>
public enum AnswerKind
{
    /// <summary>The predicted answer is empty (a format failure): never correct.</summary>
    Empty,
    /// <summary>A multiple-choice letter: "A", "(A)", "A.", "A)", "Option A", "A: text" all mean A.</summary>
    Choice,
    /// <summary>A number: compared with a relative tolerance of 1e-3 (absolute 1e-9 near zero).</summary>
    Number,
    /// <summary>Yes or no: the first word of the prediction decides.</summary>
    YesNo,
    /// <summary>Free text: case-insensitive equality after normalisation.</summary>
    Text,
}

/// <summary>The verdict on one answer, with the normalised forms that were compared.</summary>
/// <param name="IsCorrect">True when the predicted answer means the ground truth.</param>
/// <param name="Kind">How the two were compared.</param>
/// <param name="Predicted">The predicted answer as given (null or empty on a format failure).</param>
/// <param name="GroundTruth">The ground truth as given.</param>
/// <param name="NormalizedPredicted">The prediction after normalisation: the letter, the number (invariant culture), the
/// yes/no word or the normalised text; empty when nothing could be read.</param>
/// <param name="NormalizedGroundTruth">The ground truth after the same normalisation.</param>
public sealed record AnswerJudgement(bool IsCorrect, AnswerKind Kind, string? Predicted, string GroundTruth,
    string NormalizedPredicted, string NormalizedGroundTruth);

/// <summary>
/// Decides whether an extracted answer (see <see cref="Generation.AnswerExtractor"/>) matches a ground truth, the way
/// MMPR's correctness check and VLM benchmarks do. The judge only sees the answer, never the reasoning, so a letter
/// mentioned while reasoning cannot matter. Both sides are normalised first: trimmed, Markdown emphasis and LaTeX
/// wrappers removed (<c>\boxed{…}</c> — the last one wins —, <c>$…$</c>, <c>\(…\)</c>, <c>\text{…}</c>), trailing
/// punctuation stripped. Then, by the ground truth's form:
/// <list type="bullet">
/// <item>a letter ("A", "(A)", "A.") is a multiple-choice answer: the prediction must choose that letter and no other
/// ("A", "A.", "(A)", "A)", "[A]", "Option A", "The answer is (A)", "A: text", "(A) text"); "A or B" chooses none;</item>
/// <item>"yes"/"no": the first word of the prediction ("Yes, it is" is yes);</item>
/// <item>a number: the prediction's number ("12.0", "1,200", "$12", "12 cm", "12cm", "12 apples", "42.5 cm²", "8 m³",
/// "9.8 m/s²", "cm^2", "50%", "3/4", "\frac{3}{4}", "12^\circ", "x = 12", a number word from zero to ten as MMPR's
/// VQA normaliser reads them), or the one number of a sentence that states it ("The answer is 12.", "There are 12
/// circles."), within a relative tolerance of 1e-3, or 1e-9 absolute near zero ("50%" is 50, not 0.5). A sentence is
/// read only when it names exactly one number and neither an option letter nor a hedge or second answer ("or",
/// "and", "not", "than", "about", "at least", ...): "12 or 13", "12 or thirteen", "not 12", "more than 12" and "7 (B)" state no
/// number, and a bare superscript is an exponent ("5²" is not 5);</item>
/// <item>anything else: case-insensitive equality with white space collapsed.</item>
/// </list>
/// </summary>
public static partial class AnswerJudge
{
    private const double RelativeTolerance = 1e-3;
    private const double AbsoluteTolerance = 1e-9;

    /// <summary>True when <paramref name="predicted"/> means <paramref name="groundTruth"/> (see the class remarks).</summary>
    public static bool IsCorrect(string? predicted, string groundTruth) => Judge(predicted, groundTruth).IsCorrect;

    /// <summary>Judges <paramref name="predicted"/> against <paramref name="groundTruth"/>, with the normalised forms.</summary>
    public static AnswerJudgement Judge(string? predicted, string groundTruth)
    {
        ArgumentNullException.ThrowIfNull(groundTruth);
        var truth = Normalize(groundTruth);
        if (string.IsNullOrWhiteSpace(predicted))
            return new(false, AnswerKind.Empty, predicted, groundTruth, "", truth);
        var answer = Normalize(predicted);

        if (StrictLetter(truth) is char truthLetter)
        {
            var letter = ChosenLetter(answer);
            var shown = letter?.ToString() ?? "";
            return new(letter == truthLetter, AnswerKind.Choice, predicted, groundTruth, shown, truthLetter.ToString());
        }
        if (YesNo(truth) is string truthWord)
        {
            var word = FirstWord(answer);
            return new(word == truthWord, AnswerKind.YesNo, predicted, groundTruth, word, truthWord);
        }
        if (ParseNumber(truth) is double truthNumber)
        {
            var number = ParseNumber(answer) ?? NumberWord(answer) ?? NumberInSentence(answer);
            var shown = number?.ToString("R", CultureInfo.InvariantCulture) ?? Collapse(answer).ToLowerInvariant();
            bool correct = number is double n && Close(n, truthNumber);
            return new(correct, AnswerKind.Number, predicted, groundTruth, shown, truthNumber.ToString("R", CultureInfo.InvariantCulture));
        }
        var a = Collapse(answer).ToLowerInvariant();
        var t = Collapse(truth).ToLowerInvariant();
        return new(a == t, AnswerKind.Text, predicted, groundTruth, a, t);
    }

    private static bool Close(double a, double b)
    {
        double diff = Math.Abs(a - b);
        return diff <= AbsoluteTolerance || diff <= RelativeTolerance * Math.Max(Math.Abs(a), Math.Abs(b));
    }

    /// <summary>Trims, removes Markdown emphasis and LaTeX wrappers and strips trailing punctuation.</summary>
    internal static string Normalize(string text)
    {
        var s = text.Trim();
        var boxed = LastBraced(s, "\\boxed{") ?? LastBraced(s, "\\fbox{");
        if (boxed is not null)
            s = boxed;
        for (int pass = 0; pass < 4; pass++)
        {
            var before = s;
            s = s.Trim().Trim('*', '_', '`').Trim();
            s = StripPair(s, "$$", "$$");
            s = StripPair(s, "$", "$");
            s = StripPair(s, "\\(", "\\)");
            s = StripPair(s, "\\[", "\\]");
            s = TextCommand().Replace(s, "$1");
            s = s.TrimEnd('.', ',', ';', ':', '!', '?', '。', '，', ' ', '\t');
            if (s == before)
                break;
        }
        return s;
    }

    private static string StripPair(string s, string open, string close) =>
        s.Length >= open.Length + close.Length && s.StartsWith(open, StringComparison.Ordinal) && s.EndsWith(close, StringComparison.Ordinal)
            ? s[open.Length..^close.Length].Trim()
            : s;

    /// <summary>The content of the last <paramref name="command"/> group with balanced braces, or null.</summary>
    private static string? LastBraced(string s, string command)
    {
        int start = s.LastIndexOf(command, StringComparison.Ordinal);
        if (start < 0)
            return null;
        int i = start + command.Length, depth = 1;
        for (int j = i; j < s.Length; j++)
        {
            if (s[j] == '{')
                depth++;
            else if (s[j] == '}' && --depth == 0)
                return s[i..j].Trim();
        }
        return null;
    }

    private static string Collapse(string s) => WhiteSpace().Replace(s.Trim(), " ");

    /// <summary>The letter of a ground truth written as a bare option: "A", "(A)", "A.", "A)", "[A]".</summary>
    private static char? StrictLetter(string s)
    {
        var m = BareLetter().Match(s);
        return m.Success ? char.ToUpperInvariant(m.Groups[1].Value[0]) : null;
    }

    /// <summary>The one option letter a prediction chooses, or null when it chooses none or several.</summary>
    private static char? ChosenLetter(string answer)
    {
        var s = AnswerPrefix().Replace(answer, "").Trim();
        if (StrictLetter(s) is char bare)
            return bare;
        var lead = LeadingLetter().Match(s);
        if (lead.Success)
        {
            char letter = char.ToUpperInvariant((lead.Groups[1].Success ? lead.Groups[1] : lead.Groups[2]).Value[0]);
            var rest = s[lead.Length..];
            // "(A) or (B)", "A) or B": a second option chosen next to the first makes the answer choose none.
            bool another = ParenLetter().Matches(rest).Any(m => m.Groups[1].Value[0] != letter) || SecondOption().IsMatch(rest);
            return another ? null : letter;
        }
        // Anything else: the letters written as options ("(B)") or standing alone ("B"); exactly one must be chosen.
        var candidates = ParenLetter().Matches(s).Select(m => m.Groups[1].Value[0]).Distinct().ToList();
        if (candidates.Count == 0)
            candidates = AloneLetter().Matches(s).Select(m => m.Groups[1].Value[0]).Distinct().ToList();
        return candidates.Count == 1 ? candidates[0] : null;
    }

    private static string? YesNo(string s)
    {
        var lower = s.ToLowerInvariant();
        return lower is "yes" or "no" ? lower : null;
    }

    private static string FirstWord(string s)
    {
        var m = FirstWordPattern().Match(s);
        return m.Success ? m.Groups[1].Value.ToLowerInvariant() : "";
    }

    /// <summary>The number an answer states, or null: see the class remarks for the forms read.</summary>
    internal static double? ParseNumber(string text)
    {
        var s = Assignment().Replace(text.Trim(), "");
        s = s.Replace("\\!", "").Replace("\\,", "").Replace("{,}", ",");
        var frac = LatexFraction().Match(s);
        if (frac.Success)
        {
            double num = double.Parse(frac.Groups[2].Value, CultureInfo.InvariantCulture);
            double den = double.Parse(frac.Groups[3].Value, CultureInfo.InvariantCulture);
            if (den == 0 || !IsUnit(frac.Groups[4].Value))
                return null;
            return (frac.Groups[1].Value == "-" ? -1 : 1) * num / den;
        }
        var m = NumberPattern().Match(s);
        if (!m.Success || !IsUnit(m.Groups["unit"].Value))
            return null;
        double value = double.Parse(m.Groups["num"].Value.Replace(",", ""), NumberStyles.Float, CultureInfo.InvariantCulture);
        if (m.Groups["den"].Success)
        {
            double den = double.Parse(m.Groups["den"].Value, CultureInfo.InvariantCulture);
            if (den == 0)
                return null;
            value /= den;
        }
        return m.Groups["sign"].Value is "-" or "−" ? -value : value;
    }

    /// <summary>
    /// True when what follows a number is nothing, a percent or degree sign, or unit words ("cm", "apples", "m/s", "cm²",
    /// "m/s^2"), none of which joins a second answer or hedges ("12 or thirteen", "12 at least").
    /// </summary>
    private static bool IsUnit(string rest)
    {
        var r = rest.Trim();
        return r.Length == 0 || (UnitPattern().IsMatch(r) && !Hedge().IsMatch(r));
    }

    /// <summary>A number word as MMPR's VQA normaliser maps it (EvalAIAnswerProcessor.NUMBER_MAP in utils/accuracy_reward.py).</summary>
    private static double? NumberWord(string answer) => answer.Trim().ToLowerInvariant() switch
    {
        "none" or "zero" => 0, "one" => 1, "two" => 2, "three" => 3, "four" => 4, "five" => 5,
        "six" => 6, "seven" => 7, "eight" => 8, "nine" => 9, "ten" => 10, _ => null,
    };

    /// <summary>
    /// The number a sentence states ("The answer is 12.", "So the area is 42.5 cm²."): the sentence must hold exactly one
    /// number, no option letter and no word that hedges or joins another answer; what follows the number must be units.
    /// </summary>
    internal static double? NumberInSentence(string text)
    {
        var numbers = SentenceNumber().Matches(text);
        if (numbers.Count != 1 || Hedge().IsMatch(text) || ParenLetter().IsMatch(text) || OptionWord().IsMatch(text))
            return null;
        var number = numbers[0];
        var after = text[(number.Index + number.Length)..];
        int end = SentenceEnd().Match(after) is { Success: true } stop ? stop.Index : after.Length;
        return ParseNumber(number.Value + after[..end]);
    }

    [GeneratedRegex(@"\\(?:text|textbf|mathrm|mbox|mathbf)\{([^{}]*)\}")]
    private static partial Regex TextCommand();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();

    /// <summary>A bare option letter: "A", "(A)", "[A]", "A.", "A)", "A:".</summary>
    [GeneratedRegex(@"^[(\[]?([A-Za-z])[)\].:]?$", RegexOptions.CultureInvariant)]
    private static partial Regex BareLetter();

    [GeneratedRegex(@"^(?:the\s+)?(?:(?:correct|final|best|right)\s+)?(?:answer|option|choice)(?:\s+is)?\s*:?\s*|^(?:option|choice)\s*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AnswerPrefix();

    /// <summary>"(A) text", "[A] text", "A: text", "A. text", "A) text".</summary>
    [GeneratedRegex(@"^(?:[(\[]([A-Za-z])[)\]]|([A-Za-z])[.:)](?=\s|$))", RegexOptions.CultureInvariant)]
    private static partial Regex LeadingLetter();

    [GeneratedRegex(@"^\s*(?:,|/|&|or\b|and\b)\s*[(\[]?[A-Za-z](?:$|[)\].:,\s])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecondOption();

    [GeneratedRegex(@"\(([A-Z])\)", RegexOptions.CultureInvariant)]
    private static partial Regex ParenLetter();

    [GeneratedRegex(@"(?<![A-Za-z'’])([A-Z])(?![A-Za-z'’])", RegexOptions.CultureInvariant)]
    private static partial Regex AloneLetter();

    [GeneratedRegex(@"^\W*([A-Za-z]+)", RegexOptions.CultureInvariant)]
    private static partial Regex FirstWordPattern();

    [GeneratedRegex(@"^[A-Za-z]\w*\s*=\s*", RegexOptions.CultureInvariant)]
    private static partial Regex Assignment();

    [GeneratedRegex(@"^([-+]?)\\[dt]?frac\s*\{\s*(\d+(?:\.\d+)?)\s*\}\s*\{\s*(\d+(?:\.\d+)?)\s*\}(.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex LatexFraction();

    [GeneratedRegex(@"^(?<sign>[-+−]?)\s*(?:\\?\$)?\s*(?<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)(?:\s*/\s*(?<den>\d+))?(?<unit>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex NumberPattern();

    /// <summary>Units: "%", "°", "degrees", "^\circ", or words, each with an optional power ("cm²", "m^3", "s^{2}") and "/" or "·" between them.</summary>
    [GeneratedRegex(@"^(?:\\?%|°|percent|degrees?|\^\s*\{?\s*\\circ\s*\}?|\\circ|(?:[A-Za-z]+(?:[²³]|\^\{?-?[23]\}?|[23])?[.\s/·]*)+)$", RegexOptions.CultureInvariant)]
    private static partial Regex UnitPattern();

    /// <summary>Words that hedge an answer or join a second one.</summary>
    [GeneratedRegex(@"\b(?:or|and|nor|not|than|versus|vs|between|either|neither|about|around|approximately|roughly|nearly|almost|least|most|maybe|perhaps|except|plus|minus|times)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Hedge();

    /// <summary>"option B", "choice (c)": a sentence that names an option answers a choice, not a number.</summary>
    [GeneratedRegex(@"\b(?:option|choice)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex OptionWord();

    /// <summary>A number inside a sentence, not glued to a word or another number on its left ("B12", "3.4.5") nor an ordinal ("12th").</summary>
    [GeneratedRegex(@"(?<![\w.,/^])[-+−]?(?:\\?\$)?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?(?!\d)(?![.,]\d)(?!(?:st|nd|rd|th)\b)", RegexOptions.CultureInvariant)]
    private static partial Regex SentenceNumber();

    /// <summary>Where a sentence ends after its number: a full stop, semicolon, exclamation or question mark, or a comma.</summary>
    [GeneratedRegex(@"[.;!?,](?!\d)", RegexOptions.CultureInvariant)]
    private static partial Regex SentenceEnd();
}
