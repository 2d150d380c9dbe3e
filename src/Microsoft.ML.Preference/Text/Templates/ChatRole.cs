namespace Microsoft.ML.Preference.Text.Templates;

/// <summary>Who speaks a <see cref="ChatMessage"/>.</summary>
public enum ChatRole
{
    /// <summary>The system message; only as the first message, where it replaces the template's default.</summary>
    System,

    /// <summary>The user (InternVL's "human"): questions, with <c>&lt;image&gt;</c> placeholders.</summary>
    User,

    /// <summary>The model (InternVL's "gpt").</summary>
    Assistant,
}
