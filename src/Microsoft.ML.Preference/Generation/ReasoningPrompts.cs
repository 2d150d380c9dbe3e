namespace Microsoft.ML.Preference.Generation;

/// <summary>How the model is asked to answer: the paper's two evaluation settings.</summary>
public enum AnswerMode
{
    /// <summary>Chain of thought: reason step by step, then a last line "Final answer: ...".</summary>
    ChainOfThought,
    /// <summary>Direct: the answer alone.</summary>
    Direct,
}

/// <summary>
/// The instructions appended to a question for each <see cref="AnswerMode"/>. The CoT instruction asks for the
/// "Final answer:" line that <see cref="AnswerExtractor"/> reads, as the MMPR correctness pipeline does.
/// </summary>
public static class ReasoningPrompts
{
    /// <summary>Appended to the question for chain-of-thought answers.</summary>
    public const string ChainOfThoughtInstruction =
        "Answer the question step by step. Show your reasoning, then give the final answer on the last line in the form \"Final answer: <answer>\".";

    /// <summary>Appended to the question for direct answers.</summary>
    public const string DirectInstruction = "Answer with the final answer only: a word, a number or an option letter.";

    /// <summary>The question with the instruction of <paramref name="mode"/>.</summary>
    public static string Apply(string question, AnswerMode mode) =>
        question.TrimEnd() + "\n" + (mode == AnswerMode.ChainOfThought ? ChainOfThoughtInstruction : DirectInstruction);
}
