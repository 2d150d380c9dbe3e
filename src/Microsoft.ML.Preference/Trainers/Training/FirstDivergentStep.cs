using Microsoft.ML.Preference.Text.Prompts;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// <see cref="RejectedSpan.FirstDivergentStep"/>: unlabels the rejected response after the end of the step in which
/// it first differs from the chosen one, so no loss term scores the tokens that follow the mistake.
/// </summary>
internal static class FirstDivergentStep
{
    /// <summary>
    /// The pair with the rejected row's labels cut after the first token, at or after the first response token that
    /// differs from the chosen row, that ends a step (<paramref name="endsStep"/>: its text holds a newline). A
    /// rejected response that diverges in its last step keeps every label.
    /// </summary>
    public static PreferencePair Apply(PreferencePair pair, Func<int, bool> endsStep)
    {
        var chosen = pair.Chosen.RawIds;
        var rejected = pair.Rejected.RawIds;
        var labels = pair.Rejected.RawLabels;
        int first = pair.PromptLength;
        while (first < rejected.Length && first < chosen.Length && chosen[first] == rejected[first])
            first++;
        int end = first;
        while (end < rejected.Length && !endsStep(rejected[end]))
            end++;
        if (end >= rejected.Length - 1)
            return pair;
        var cut = (int[])labels.Clone();
        Array.Fill(cut, PromptBuilder.IgnoreIndex, end + 1, cut.Length - end - 1);
        var r = pair.Rejected;
        return pair with
        {
            Rejected = new TokenizedSequence(rejected, cut, r.PromptLength, r.ImageContextTokens, r.EndsTurn, r.Truncation),
        };
    }
}
