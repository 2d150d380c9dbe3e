using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Transformers;

namespace Microsoft.ML.Preference.Generation;

/// <summary>
/// How a question is turned into the prompt a model answers, for each <see cref="AnswerMode"/>: a template around
/// <c>{question}</c> (text before it, after it, or both). One template is shared by the pair pipelines (the prompt a
/// pair stores is the one its responses were sampled with), the trainer (which trains on the stored prompt as given
/// and hands the template on) and <see cref="MpoTransformer"/> (which asks with it), so that the prompt at prediction is
/// the prompt of training.
/// </summary>
/// <remarks>
/// <see cref="Apply"/> never instructs twice: a prompt that already carries a known template (either mode, any of
/// <see cref="Known"/>) is unwrapped first, and, as MMPR's correctness pipeline does, a <see cref="KnownInstructions"/>
/// line at the end of a question is stripped before the chain-of-thought template is applied (for a Direct answer
/// such a line already asks for one, so the question is kept as it is).
/// </remarks>
public sealed record InstructionTemplate
{
    /// <summary>The place of the question in a template.</summary>
    public const string QuestionSlot = "{question}";

    /// <summary>
    /// Short-answer instructions that datasets append to questions, stripped before the chain-of-thought template is
    /// applied: MMPR's <c>VALID_INSTRUCTIONS</c> (OpenGVLab/InternVL, internvl_chat/tools/reasoning_data_pipeline/utils/constants.py).
    /// </summary>
    public static readonly IReadOnlyList<string> KnownInstructions =
    [
        "Answer the question using a single word or phrase.",
        "Answer with the option's letter from the given choices directly.",
        "Please answer Yes or No.",
    ];

    /// <summary>
    /// MMPR's own prompts. Chain of thought: <c>INSTRUCTION_EN</c> of OpenGVLab/InternVL
    /// internvl_chat/tools/reasoning_data_pipeline/utils/constants.py, the template mmpr_data_pipeline_correctness.py
    /// samples with (<c>--prompt-version en</c>), whose answers its postprocess reads after "Final answer:". Direct: the
    /// question followed by the first of its <c>VALID_INSTRUCTIONS</c>, "Answer the question using a single word or
    /// phrase.", the short-answer instruction of InternVL's VQA evaluation (MMPR itself samples chains only).
    /// </summary>
    public static readonly InstructionTemplate Mmpr = new("mmpr",
        "Your task is to answer the question below. Give step by step reasoning before you answer, and when you're ready to answer, " +
        "please use the format \"Final answer: ..\"\n\nQuestion:\n\n" + QuestionSlot,
        QuestionSlot + "\nAnswer the question using a single word or phrase.");

    /// <summary>
    /// This package's own prompts (the ones it used before templates had names): the question, a new line and an
    /// instruction. The chain-of-thought one asks for the same "Final answer:" line as MMPR's.
    /// </summary>
    public static readonly InstructionTemplate MlNet = new("mlnet",
        QuestionSlot + "\nAnswer the question step by step. Show your reasoning, then give the final answer on the last line in the form \"Final answer: <answer>\".",
        QuestionSlot + "\nAnswer with the final answer only: a word, a number or an option letter.");

    /// <summary>The default of the pipelines and of prediction when the training prompts name none: <see cref="Mmpr"/>.</summary>
    public static InstructionTemplate Default => Mmpr;

    /// <summary>The named templates: <see cref="Mmpr"/> and <see cref="MlNet"/>.</summary>
    public static IReadOnlyList<InstructionTemplate> Known { get; } = [Mmpr, MlNet];

    /// <summary>A template; each of <paramref name="chainOfThought"/> and <paramref name="direct"/> must hold <c>{question}</c> exactly once.</summary>
    /// <param name="name">The template's name (<see cref="FromName"/> knows the built-in ones), written in job settings and saved transformers.</param>
    /// <param name="chainOfThought">The chain-of-thought template.</param>
    /// <param name="direct">The direct-answer template.</param>
    public InstructionTemplate(string name, string chainOfThought, string direct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        foreach (var (mode, template) in new[] { (nameof(chainOfThought), chainOfThought), (nameof(direct), direct) })
        {
            ArgumentNullException.ThrowIfNull(template, mode);
            int first = template.IndexOf(QuestionSlot, StringComparison.Ordinal);
            if (first < 0 || template.IndexOf(QuestionSlot, first + 1, StringComparison.Ordinal) >= 0)
                throw new ArgumentException($"The {mode} template of instruction template '{name}' must hold {QuestionSlot} exactly once: \"{template}\".", mode);
        }
        Name = name;
        ChainOfThought = chainOfThought;
        Direct = direct;
    }

    /// <summary>The template's name.</summary>
    public string Name { get; }

    /// <summary>The chain-of-thought template (holds <c>{question}</c> once).</summary>
    public string ChainOfThought { get; }

    /// <summary>The direct-answer template (holds <c>{question}</c> once).</summary>
    public string Direct { get; }

    /// <summary>The template of <paramref name="name"/> ("mmpr" or "mlnet", any case).</summary>
    /// <exception cref="ArgumentException">No template has that name; the message lists the names.</exception>
    public static InstructionTemplate FromName(string name) =>
        Known.FirstOrDefault(t => string.Equals(t.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown instruction template '{name}'; known: {string.Join(", ", Known.Select(t => t.Name))}.", nameof(name));

    /// <summary>The template of <paramref name="mode"/>.</summary>
    public string For(AnswerMode mode) => mode == AnswerMode.ChainOfThought ? ChainOfThought : Direct;

    /// <summary>
    /// The prompt that asks <paramref name="question"/> in <paramref name="mode"/>: the bare question (see
    /// <see cref="BareQuestion"/>) put into this mode's template. When the template has text before the question, a
    /// single <c>&lt;image&gt;</c> in the question moves to the front of the prompt (MMPR's rule: the image comes before
    /// the instruction). A prompt this template made is returned unchanged, so applying twice equals applying once.
    /// </summary>
    public string Apply(string question, AnswerMode mode)
    {
        ArgumentNullException.ThrowIfNull(question);
        // A question that already asks for a short answer (a dataset's instruction, or MMPR's direct prompt, which is one)
        // is not instructed again.
        if (mode == AnswerMode.Direct && EndsWithKnownInstruction(question.Trim()))
            return question.Trim();
        var unwrapped = Unwrap(question);
        if (mode == AnswerMode.Direct && EndsWithKnownInstruction(unwrapped))
            return unwrapped;
        var bare = StripKnownInstructions(unwrapped);
        var template = For(mode);
        int slot = template.IndexOf(QuestionSlot, StringComparison.Ordinal);
        string lead = "";
        if (slot > 0 && ImagePlaceholders.Count(bare) == 1)
        {
            bare = bare.Replace(ImagePlaceholders.Placeholder + "\n", "", StringComparison.Ordinal)
                .Replace(ImagePlaceholders.Placeholder, "", StringComparison.Ordinal).Trim();
            lead = ImagePlaceholders.Placeholder + "\n";
        }
        return lead + template[..slot] + bare + template[(slot + QuestionSlot.Length)..];
    }

    /// <summary>
    /// The question inside <paramref name="prompt"/>: every known template's wrapping removed (either mode; a leading
    /// <c>&lt;image&gt;</c> line moved out by a template is kept), then a trailing known instruction, trimmed.
    /// </summary>
    public static string BareQuestion(string prompt) => StripKnownInstructions(Unwrap(prompt, Known));

    /// <summary>
    /// The named template whose wrapping most of <paramref name="prompts"/> carry (either mode), or null when none
    /// carries one: how the trainer learns which template its data was built with.
    /// </summary>
    public static InstructionTemplate? Detect(IEnumerable<string> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var counts = new int[Known.Count];
        foreach (var prompt in prompts)
            for (int i = 0; i < Known.Count; i++)
                if (Known[i].Wraps(prompt))
                {
                    counts[i]++;
                    break;
                }
        int best = Array.IndexOf(counts, counts.Max());
        return counts[best] == 0 ? null : Known[best];
    }

    /// <summary>True when <paramref name="prompt"/> is one of this template's prompts (either mode).</summary>
    public bool Wraps(string prompt) => Unwrap(prompt, [this]) != prompt.Trim();

    /// <summary>The template as job settings and saved transformers record it.</summary>
    internal JsonObject ToJson() => new() { ["name"] = Name, ["chain_of_thought"] = ChainOfThought, ["direct"] = Direct };

    /// <summary>A template written by <see cref="ToJson"/> (null when <paramref name="json"/> is null).</summary>
    internal static InstructionTemplate? FromJson(JsonNode? json) => json is null ? null : new(
        json["name"]?.GetValue<string>() ?? "custom",
        json["chain_of_thought"]?.GetValue<string>() ?? throw new InvalidDataException("An instruction template without 'chain_of_thought'."),
        json["direct"]?.GetValue<string>() ?? throw new InvalidDataException("An instruction template without 'direct'."));

    private string Unwrap(string prompt) => Unwrap(prompt, Known.Contains(this) ? Known : [this, .. Known]);

    /// <summary>Removes the wrapping of any of <paramref name="templates"/> until none is left (data wrapped twice included).</summary>
    private static string Unwrap(string prompt, IReadOnlyList<InstructionTemplate> templates)
    {
        var text = prompt.Trim();
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (var template in templates)
                foreach (var mode in new[] { AnswerMode.ChainOfThought, AnswerMode.Direct })
                    if (TryUnwrap(text, template.For(mode), out var inner))
                    {
                        text = inner;
                        changed = true;
                    }
        }
        return text;
    }

    private static bool TryUnwrap(string text, string template, out string inner)
    {
        int slot = template.IndexOf(QuestionSlot, StringComparison.Ordinal);
        string before = template[..slot], after = template[(slot + QuestionSlot.Length)..];
        inner = text;
        // A template with text before the question moved the question's one image to the front: put it back there.
        string lead = "";
        var body = text;
        if (before.Length > 0 && body.StartsWith(ImagePlaceholders.Placeholder + "\n", StringComparison.Ordinal)
            && body[(ImagePlaceholders.Placeholder.Length + 1)..].StartsWith(before, StringComparison.Ordinal))
        {
            lead = ImagePlaceholders.Placeholder + "\n";
            body = body[lead.Length..];
        }
        if (body.Length < before.Length + after.Length || !body.StartsWith(before, StringComparison.Ordinal) || !body.EndsWith(after, StringComparison.Ordinal))
            return false;
        var question = body[before.Length..^after.Length].Trim();
        if (question.Length == 0 || before.Length + after.Length == 0)
            return false;
        inner = lead + question;
        return true;
    }

    private static bool EndsWithKnownInstruction(string question) =>
        KnownInstructions.Any(i => question.EndsWith(i, StringComparison.Ordinal));

    /// <summary>MMPR's stripping: every known instruction the question ends with, removed, and the rest trimmed.</summary>
    private static string StripKnownInstructions(string question)
    {
        var text = question.Trim();
        foreach (var instruction in KnownInstructions)
            if (text.EndsWith(instruction, StringComparison.Ordinal))
                text = text[..^instruction.Length].Trim();
        return text;
    }
}
