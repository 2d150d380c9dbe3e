using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Lora;

/// <summary>
/// The settings of a LoRA adapter, named after PEFT's <c>LoraConfig</c> (in brackets below) so that they map
/// one to one onto <c>adapter_config.json</c>. Defaults are PEFT's: r = 8, lora_alpha = 8, lora_dropout = 0.
/// </summary>
public sealed record LoraOptions
{
    /// <summary>The rank r of every adapter (<c>r</c>); must be positive.</summary>
    public int Rank { get; init; } = 8;

    /// <summary>The LoRA alpha (<c>lora_alpha</c>); the update is scaled by alpha / r (alpha / √r with <see cref="UseRsLora"/>).</summary>
    public double Alpha { get; init; } = 8;

    /// <summary>
    /// Dropout on the adapter's input (<c>lora_dropout</c>), in [0, 1). Applied only while the adapted layer is in
    /// training mode (<c>model.train()</c>); the base layer's own output is never dropped.
    /// </summary>
    public double Dropout { get; init; }

    /// <summary>Rank-stabilised LoRA (<c>use_rslora</c>): scale alpha / √r instead of alpha / r.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>
    /// Layer names or name suffixes (<c>target_modules</c> as a list): a Linear layer is adapted when its full name
    /// equals an entry or ends with "." + entry, as PEFT matches them. Null: the language model's attention and MLP
    /// projections (<see cref="LoraTargets.LanguageModel"/>), which needs an <see cref="InternVLChatModel"/>.
    /// </summary>
    public IReadOnlyList<string>? TargetModules { get; init; }

    /// <summary>
    /// A regular expression that a layer's full name must match in full (<c>target_modules</c> as a string; PEFT
    /// uses Python's <c>re.fullmatch</c>). Exclusive with <see cref="TargetModules"/>, <see cref="IncludeVisionEncoder"/>
    /// and <see cref="IncludeProjector"/>. Written for .NET's regex engine, which agrees with Python's on the usual
    /// constructs (classes, groups, alternation, quantifiers).
    /// </summary>
    public string? TargetModulesRegex { get; init; }

    /// <summary>Also adapts InternViT's <c>attn.qkv</c>, <c>attn.proj</c>, <c>mlp.fc1</c> and <c>mlp.fc2</c>.</summary>
    public bool IncludeVisionEncoder { get; init; }

    /// <summary>Also adapts the projector's linear layers <c>mlp1.1</c> and <c>mlp1.3</c>.</summary>
    public bool IncludeProjector { get; init; }

    /// <summary>
    /// Initialisation (<c>init_lora_weights</c>): true (the default) draws A from kaiming-uniform(a = √5), PEFT's and
    /// nn.Linear's default, and sets B to zero, so that a fresh adapter changes nothing; false draws B the same way
    /// (PEFT leaves nn.Linear's default init in place), which is only useful in tests.
    /// </summary>
    public bool InitLoraWeights { get; init; } = true;

    /// <summary>The seed of the initialisation; the same seed, model and options give the same adapter.</summary>
    public long Seed { get; init; }

    /// <summary>
    /// The dtype of the adapter weights. Null: float32 where the base weight is float16 or bfloat16 (PEFT's
    /// <c>autocast_adapter_dtype=True</c> default), else the base weight's dtype.
    /// </summary>
    public ScalarType? AdapterDType { get; init; }

    /// <summary>
    /// PEFT's <c>task_type</c> written to <c>adapter_config.json</c>, e.g. "CAUSAL_LM"; null (the default) makes
    /// Python load the adapter as a plain <c>PeftModel</c>, which suits InternVLChatModel (not a causal LM class).
    /// </summary>
    public string? TaskType { get; init; }

    /// <summary>PEFT's <c>base_model_name_or_path</c>: the model folder or hub id the adapter was trained on.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>The factor of the low-rank update: alpha / r, or alpha / √r with <see cref="UseRsLora"/>.</summary>
    public double Scale => UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    /// <summary>Throws <see cref="ArgumentException"/> for settings that cannot work.</summary>
    internal void Validate()
    {
        if (Rank <= 0)
            throw new ArgumentException($"LoRA rank r must be positive, not {Rank}.", nameof(Rank));
        if (!double.IsFinite(Alpha))
            throw new ArgumentException($"lora_alpha must be a finite number, not {Alpha}.", nameof(Alpha));
        if (!(Dropout >= 0 && Dropout < 1))
            throw new ArgumentException($"lora_dropout must be in [0, 1), not {Dropout}.", nameof(Dropout));
        if (TargetModulesRegex is not null)
        {
            if (TargetModules is not null)
                throw new ArgumentException("Give TargetModules or TargetModulesRegex, not both.", nameof(TargetModulesRegex));
            if (IncludeVisionEncoder || IncludeProjector)
                throw new ArgumentException(
                    "IncludeVisionEncoder and IncludeProjector add names to a list and cannot be combined with TargetModulesRegex; " +
                    "put those layers into the pattern instead.", nameof(TargetModulesRegex));
            if (TargetModulesRegex.Length == 0)
                throw new ArgumentException("TargetModulesRegex is empty.", nameof(TargetModulesRegex));
        }
        if (TargetModules is not null && TargetModules.Any(string.IsNullOrEmpty))
            throw new ArgumentException("TargetModules contains an empty name.", nameof(TargetModules));
        if (AdapterDType is { } dtype && !is_floating_point(dtype))
            throw new ArgumentException($"AdapterDType must be a floating-point type, not {dtype}.", nameof(AdapterDType));
    }
}
