namespace Microsoft.ML.Preference.Generation;

/// <summary>How the model is asked to answer: the paper's two evaluation settings (the prompts: <see cref="InstructionTemplate"/>).</summary>
public enum AnswerMode
{
    /// <summary>Chain of thought: reason step by step, then a last line "Final answer: ...".</summary>
    ChainOfThought,
    /// <summary>Direct: the answer alone.</summary>
    Direct,
}
