using System.Text;

namespace Microsoft.ML.Preference.Text.Templates;

/// <summary>
/// A conversation template of InternVL (internvl_chat/internvl/conversation.py), in its MPT separator style, the
/// style of every template InternVL2 and later ship: <c>system_template.format(system_message) + sep</c>, then
/// <c>role + message + sep</c> per turn, and the bare assistant role as the generation prompt. Instances are
/// immutable; <see cref="ChatTemplates"/> holds the registered ones.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The placeholder in <see cref="SystemTemplate"/> (Python <c>str.format</c> field).</summary>
    public const string SystemMessageField = "{system_message}";

    /// <summary>Defines an MPT-style template.</summary>
    /// <param name="name">The name InternVL's config.json gives in <c>template</c>.</param>
    /// <param name="systemTemplate">The system turn, with <see cref="SystemMessageField"/> once (<c>&lt;|im_start|&gt;system\n{system_message}</c>).</param>
    /// <param name="defaultSystemMessage">The system message used when a conversation gives none.</param>
    /// <param name="userRole">The text opening a user turn (<c>&lt;|im_start|&gt;user\n</c>).</param>
    /// <param name="assistantRole">The text opening an assistant turn; also the generation prompt.</param>
    /// <param name="separator">The text closing every turn, the system turn included (<c>&lt;|im_end|&gt;</c>).</param>
    /// <param name="stopStrings">
    /// Extra stop strings (conversation.py's <c>stop_str</c>); the trimmed separator is always the first stop string,
    /// since InternVL's <c>chat()</c> stops generation at that token.
    /// </param>
    /// <param name="stripsTrainingMessages">Whether InternVL strips each message before rendering a training row.</param>
    /// <exception cref="ArgumentException">A text is empty where it cannot be, or the system template lacks its field.</exception>
    public ChatTemplate(string name, string systemTemplate, string defaultSystemMessage, string userRole, string assistantRole,
        string separator, IReadOnlyList<string>? stopStrings = null, bool stripsTrainingMessages = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(systemTemplate);
        ArgumentNullException.ThrowIfNull(defaultSystemMessage);
        ArgumentException.ThrowIfNullOrEmpty(userRole);
        ArgumentException.ThrowIfNullOrEmpty(assistantRole);
        ArgumentException.ThrowIfNullOrWhiteSpace(separator);
        int field = systemTemplate.IndexOf(SystemMessageField, StringComparison.Ordinal);
        if (field < 0 || systemTemplate.IndexOf(SystemMessageField, field + 1, StringComparison.Ordinal) >= 0)
            throw new ArgumentException($"The system template of '{name}' must contain {SystemMessageField} exactly once: \"{systemTemplate}\".", nameof(systemTemplate));
        Name = name;
        SystemTemplate = systemTemplate;
        SystemPrefix = systemTemplate[..field];
        SystemSuffix = systemTemplate[(field + SystemMessageField.Length)..];
        DefaultSystemMessage = defaultSystemMessage;
        UserRole = userRole;
        AssistantRole = assistantRole;
        Separator = separator;
        // InternVL's chat() stops at convert_tokens_to_ids(template.sep.strip()), and preprocess_internvl2_5 labels
        // "<|im_end|>" but not the "\n" after it: the token that ends a turn is the trimmed separator.
        EndOfTurn = separator.Trim();
        int end = separator.IndexOf(EndOfTurn, StringComparison.Ordinal);
        SeparatorPrefix = separator[..end];
        SeparatorSuffix = separator[(end + EndOfTurn.Length)..];
        StopStrings = [EndOfTurn, .. (stopStrings ?? []).Where(s => s != EndOfTurn)];
        StripsTrainingMessages = stripsTrainingMessages;
    }

    /// <summary>The template's name (<c>Hermes-2</c>, <c>internlm2-chat</c>…).</summary>
    public string Name { get; }

    /// <summary>The system turn's text with <see cref="SystemMessageField"/>.</summary>
    public string SystemTemplate { get; }

    /// <summary>The system message used when a conversation brings none (copied from conversation.py).</summary>
    public string DefaultSystemMessage { get; }

    /// <summary>The text opening a user turn.</summary>
    public string UserRole { get; }

    /// <summary>The text opening an assistant turn.</summary>
    public string AssistantRole { get; }

    /// <summary>The text closing each turn (conversation.py's <c>sep</c>).</summary>
    public string Separator { get; }

    /// <summary>
    /// The separator without surrounding whitespace (<c>&lt;|im_end|&gt;</c>): the end-of-turn token, which training
    /// rows label after the response and generation stops at.
    /// </summary>
    public string EndOfTurn { get; }

    /// <summary>Strings that end generation: <see cref="EndOfTurn"/> first, then conversation.py's <c>stop_str</c>.</summary>
    public IReadOnlyList<string> StopStrings { get; }

    /// <summary>
    /// Whether InternVL strips whitespace around each user and assistant message before rendering a training row
    /// (<c>preprocess_internlm</c> does, for internlm2-chat); inference prompts are never stripped (<c>chat()</c> does not).
    /// </summary>
    public bool StripsTrainingMessages { get; }

    /// <summary>What ends an inference prompt: the assistant role, which the model continues.</summary>
    public string GenerationPrompt => AssistantRole;

    internal string SystemPrefix { get; }

    internal string SystemSuffix { get; }

    internal string SeparatorPrefix { get; }

    internal string SeparatorSuffix { get; }

    /// <summary>
    /// Renders a conversation as InternVL's <c>Conversation.get_prompt()</c> does. <c>&lt;image&gt;</c> placeholders
    /// stay as they are (see <see cref="Prompts.ImagePlaceholders.Expand"/>). As in conversation.py, an empty message
    /// renders as its role alone, without separator.
    /// </summary>
    /// <param name="messages">
    /// An optional <see cref="ChatRole.System"/> message first, then user and assistant turns alternating, starting with
    /// the user.
    /// </param>
    /// <param name="addGenerationPrompt">Append <see cref="GenerationPrompt"/> (for inference, after a user turn).</param>
    /// <param name="systemMessage">
    /// The system message when <paramref name="messages"/> has none; null takes <see cref="DefaultSystemMessage"/>.
    /// An empty string still renders the (empty) system turn, as InternVL does.
    /// </param>
    /// <exception cref="ArgumentException">The roles do not follow the order above.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false, string? systemMessage = null)
    {
        var (system, turns) = Split(messages, systemMessage);
        var text = new StringBuilder(SystemPrefix).Append(system).Append(SystemSuffix).Append(Separator);
        foreach (var m in turns)
        {
            text.Append(RoleText(m.Role));
            if (m.Content.Length > 0)
                text.Append(m.Content).Append(Separator);
        }
        if (addGenerationPrompt)
            text.Append(GenerationPrompt);
        return text.ToString();
    }

    /// <summary>The role text of a user or assistant turn.</summary>
    internal string RoleText(ChatRole role) => role switch
    {
        ChatRole.User => UserRole,
        ChatRole.Assistant => AssistantRole,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Only user and assistant turns have a role text."),
    };

    /// <summary>
    /// Checks the order of roles (InternVL asserts <c>role == conv.roles[j % 2]</c>) and separates the system message.
    /// </summary>
    internal (string System, IReadOnlyList<ChatMessage> Turns) Split(IReadOnlyList<ChatMessage> messages, string? systemMessage)
    {
        ArgumentNullException.ThrowIfNull(messages);
        string system = systemMessage ?? DefaultSystemMessage;
        int start = 0;
        if (messages.Count > 0 && messages[0] is { Role: ChatRole.System } first)
        {
            system = first.Content ?? throw new ArgumentException("The system message has null content.", nameof(messages));
            start = 1;
        }
        var turns = new List<ChatMessage>(messages.Count - start);
        for (int i = start; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw new ArgumentException($"Message {i} is null.", nameof(messages));
            var expected = (i - start) % 2 == 0 ? ChatRole.User : ChatRole.Assistant;
            if (m.Role != expected)
                throw new ArgumentException(
                    $"Message {i} has role {m.Role} where {expected} must come: after an optional first system message, " +
                    "turns alternate user, assistant, user… starting with the user.", nameof(messages));
            if (m.Content is null)
                throw new ArgumentException($"Message {i} has null content.", nameof(messages));
            turns.Add(m);
        }
        return (system, turns);
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
