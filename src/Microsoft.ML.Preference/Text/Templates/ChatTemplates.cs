namespace Microsoft.ML.Preference.Text.Templates;

/// <summary>
/// The conversation templates of InternVL2 / InternVL2.5 checkpoints (the <c>template</c> of their config.json),
/// copied from OpenGVLab/InternVL internvl_chat/internvl/conversation.py. Every one is MPT style.
/// </summary>
public static class ChatTemplates
{
    // conversation.py keeps InternVL2's system prompt for these templates "to avoid changes in benchmark performance"
    // (the newer one is a comment there); internvl2_5 uses the newer one.
    private const string InternVL2SystemMessage = "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。";
    private const string InternVL2_5SystemMessage = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。";

    /// <summary>
    /// <c>Hermes-2</c> (InternVL2 on Qwen2, Yi, Hermes): ChatML turns closed by <c>&lt;|im_end|&gt;</c> with no newline
    /// after it; stop string <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    public static ChatTemplate Hermes2 { get; } = new(
        "Hermes-2", "<|im_start|>system\n{system_message}", InternVL2SystemMessage,
        "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>", stopStrings: ["<|endoftext|>"]);

    /// <summary>
    /// <c>internlm2-chat</c> (InternVL2 on InternLM2): the same text as Hermes-2. conversation.py notes the difference is in
    /// training only: its preprocessing adds <c>&lt;s&gt;</c> (the InternLM2 tokenizer's BOS) and strips each message.
    /// </summary>
    public static ChatTemplate InternLM2Chat { get; } = new(
        "internlm2-chat", "<|im_start|>system\n{system_message}", InternVL2SystemMessage,
        "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>", stripsTrainingMessages: true);

    /// <summary><c>internvl2_5</c> (InternVL2.5 and later): ChatML with a newline after each <c>&lt;|im_end|&gt;</c>.</summary>
    public static ChatTemplate InternVL2_5 { get; } = new(
        "internvl2_5", "<|im_start|>system\n{system_message}", InternVL2_5SystemMessage,
        "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>\n");

    /// <summary><c>phi3-chat</c> (InternVL2-4B on Phi-3): Phi-3's <c>&lt;|user|&gt;</c> turns closed by <c>&lt;|end|&gt;</c>.</summary>
    public static ChatTemplate Phi3Chat { get; } = new(
        "phi3-chat", "<|system|>\n{system_message}", InternVL2SystemMessage,
        "<|user|>\n", "<|assistant|>\n", "<|end|>");

    private static readonly ChatTemplate[] All = [Hermes2, InternLM2Chat, InternVL2_5, Phi3Chat];

    /// <summary>The registered names, in registration order.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(t => t.Name).ToArray();

    /// <summary>The template called <paramref name="name"/> (exact name as in config.json; case is ignored).</summary>
    /// <exception cref="KeyNotFoundException">No such template; the message lists the known names.</exception>
    public static ChatTemplate Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryGet(name, out var template)
            ? template
            : throw new KeyNotFoundException($"Unknown chat template '{name}'. Known templates: {string.Join(", ", Names)}.");
    }

    /// <summary>Looks a template up by name (case is ignored).</summary>
    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ChatTemplate? template)
    {
        ArgumentNullException.ThrowIfNull(name);
        template = All.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase));
        return template is not null;
    }
}
