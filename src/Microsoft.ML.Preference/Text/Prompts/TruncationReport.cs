namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>What truncation removed from one sequence, so that a trainer can count and report it.</summary>
/// <param name="PromptTokensRemoved">Tokens of user text (and earlier assistant turns) removed from the prompt's start.</param>
/// <param name="ResponseTokensRemoved">Tokens removed from the end of the response text.</param>
/// <param name="ClosingTokensRemoved">Tokens of the closing separator removed (end-of-turn token and what follows it).</param>
public sealed record TruncationReport(int PromptTokensRemoved, int ResponseTokensRemoved, int ClosingTokensRemoved)
{
    /// <summary>Nothing removed.</summary>
    public static TruncationReport None { get; } = new(0, 0, 0);

    /// <summary>Whether anything was removed.</summary>
    public bool IsTruncated => PromptTokensRemoved + ResponseTokensRemoved + ClosingTokensRemoved > 0;

    /// <summary>All tokens removed.</summary>
    public int TotalRemoved => PromptTokensRemoved + ResponseTokensRemoved + ClosingTokensRemoved;
}
