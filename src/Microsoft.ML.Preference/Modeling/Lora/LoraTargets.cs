using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Modeling.Lora;

/// <summary>
/// Which Linear layers get an adapter: the default name lists for InternVL's parts, and PEFT's matching rule for
/// <c>target_modules</c> (peft/tuners/tuners_utils.py, <c>check_target_module_exists</c>): a list entry selects the
/// layer whose full name equals it or ends with "." + entry; a string is a regular expression the full name must
/// match completely (<c>re.fullmatch</c>).
/// </summary>
internal static class LoraTargets
{
    /// <summary>Qwen2's attention and MLP projections (InternVL's <c>wrap_llm_lora</c> list, without the parent names).</summary>
    public static IReadOnlyList<string> Qwen2LanguageModel => DecoderFamilies.Qwen2.LoraTargets;

    /// <summary>InternLM2's packed attention projections and MLP (<c>wqkv</c>, <c>wo</c>, <c>w1</c>, <c>w2</c>, <c>w3</c>).</summary>
    public static IReadOnlyList<string> InternLM2LanguageModel => DecoderFamilies.InternLM2.LoraTargets;

    /// <summary>InternViT's attention and MLP projections (InternVL's <c>wrap_backbone_lora</c> list).</summary>
    public static IReadOnlyList<string> VisionEncoder { get; } =
        Array.AsReadOnly(["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"]);

    /// <summary>The projector's two linear layers (<c>mlp1</c> is LayerNorm, Linear, GELU, Linear).</summary>
    public static IReadOnlyList<string> Projector { get; } = Array.AsReadOnly(["mlp1.1", "mlp1.3"]);

    /// <summary>The default targets of a decoder architecture.</summary>
    /// <exception cref="NotSupportedException">An architecture without a default list.</exception>
    public static IReadOnlyList<string> LanguageModel(LanguageArchitecture architecture) => DecoderFamilies.Of(architecture).LoraTargets;

    /// <summary>
    /// The effective <c>target_modules</c> list for <paramref name="options"/> on an InternVL model of the given decoder:
    /// the explicit list or the decoder's defaults, plus the vision and projector names when asked for. Null when the
    /// options select by regex.
    /// </summary>
    public static IReadOnlyList<string>? Resolve(LoraOptions options, LanguageArchitecture? architecture)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TargetModulesRegex is not null)
            return null;
        IEnumerable<string> names = options.TargetModules
            ?? (architecture is { } arch
                ? LanguageModel(arch)
                : throw new ArgumentException(
                    "LoraOptions.TargetModules (or TargetModulesRegex) is required for a model that is not an InternVLChatModel: " +
                    "the default targets depend on the decoder.", nameof(options)));
        if (options.IncludeVisionEncoder)
            names = names.Concat(VisionEncoder);
        if (options.IncludeProjector)
            names = names.Concat(Projector);
        return Array.AsReadOnly(names.Distinct(StringComparer.Ordinal).ToArray());
    }

    /// <summary>PEFT's list rule: <paramref name="moduleName"/> equals an entry or ends with "." + entry.</summary>
    public static bool IsMatch(string moduleName, IEnumerable<string> targetModules)
    {
        ArgumentNullException.ThrowIfNull(moduleName);
        ArgumentNullException.ThrowIfNull(targetModules);
        foreach (var target in targetModules)
        {
            if (moduleName == target ||
                moduleName.Length > target.Length && moduleName.EndsWith(target, StringComparison.Ordinal) &&
                moduleName[moduleName.Length - target.Length - 1] == '.')
                return true;
        }
        return false;
    }

    /// <summary>PEFT's string rule: <paramref name="moduleName"/> matches <paramref name="pattern"/> in full.</summary>
    /// <exception cref="ArgumentException">The pattern is not a valid regular expression.</exception>
    public static bool IsMatch(string moduleName, string pattern) => FullMatch(pattern).IsMatch(moduleName);

    /// <summary>
    /// The Linear layers of <paramref name="model"/> that the effective targets select, in the model's module order.
    /// </summary>
    /// <exception cref="NotSupportedException">A selected module is not a TorchSharp Linear layer.</exception>
    /// <exception cref="ArgumentException">Nothing is selected.</exception>
    internal static List<(string Name, Linear Layer)> Select(torch.nn.Module model, IReadOnlyList<string>? targetModules, string? regex)
    {
        Func<string, bool> selects = regex is not null
            ? FullMatch(regex).IsMatch
            : name => IsMatch(name, targetModules!);
        var found = new List<(string, Linear)>();
        foreach (var (name, module) in model.named_modules())
        {
            if (string.IsNullOrEmpty(name) || !Matches(selects, name, regex))
                continue;
            if (module is not Linear linear)
                throw new NotSupportedException(
                    $"LoRA target '{name}' is a {module.GetType().Name}, not a Linear layer; LoRA attaches to TorchSharp Linear layers only " +
                    "(a target_modules entry selects the layer itself, as in PEFT).");
            found.Add((name, linear));
        }
        if (found.Count == 0)
            throw new ArgumentException(
                $"Target modules {Describe(targetModules, regex)} not found in the model: no module name " +
                (regex is not null ? "matches the pattern in full." : "equals an entry or ends with '.' + entry."));
        return found;
    }

    /// <summary>"[a, b]" or "regex 'x'", for messages.</summary>
    internal static string Describe(IReadOnlyList<string>? targetModules, string? regex) =>
        regex is not null ? $"(regex '{regex}')" : $"[{string.Join(", ", targetModules ?? [])}]";

    private static bool Matches(Func<string, bool> selects, string name, string? regex)
    {
        try
        {
            return selects(name);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new ArgumentException($"The target_modules pattern '{regex}' took too long on '{name}'.", e);
        }
    }

    private static Regex FullMatch(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        try
        {
            // \z, not $: Python's fullmatch does not accept a trailing newline, and $ would. The timeout bounds a
            // pathological pattern read from someone else's adapter_config.json.
            return new Regex($"^(?:{pattern})\\z", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"The target_modules pattern '{pattern}' is not a valid regular expression: {e.Message}", nameof(pattern), e);
        }
    }
}
