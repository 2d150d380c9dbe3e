namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>A preference row: the chosen and the rejected response after the same prompt ids.</summary>
/// <param name="Chosen">Prompt + chosen response.</param>
/// <param name="Rejected">Prompt + rejected response; its first <see cref="PromptLength"/> ids equal the chosen row's.</param>
/// <param name="PromptLength">The number of shared prompt ids (BOS included).</param>
internal sealed record PreferencePair(TokenizedSequence Chosen, TokenizedSequence Rejected, int PromptLength);
