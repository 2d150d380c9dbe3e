namespace Microsoft.ML.Preference.Text.Templates;

/// <summary>One turn of a conversation.</summary>
/// <param name="Role">Who speaks.</param>
/// <param name="Content">What is said; user text may hold <c>&lt;image&gt;</c> placeholders.</param>
public sealed record ChatMessage(ChatRole Role, string Content)
{
    /// <summary>A system message (replaces the template's default system message).</summary>
    public static ChatMessage System(string content) => new(ChatRole.System, content);

    /// <summary>A user turn.</summary>
    public static ChatMessage User(string content) => new(ChatRole.User, content);

    /// <summary>An assistant turn.</summary>
    public static ChatMessage Assistant(string content) => new(ChatRole.Assistant, content);
}
