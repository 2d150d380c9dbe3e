namespace Microsoft.ML.Preference.Modeling.Configuration;

/// <summary>The decoder families an InternVL folder can carry.</summary>
public enum LanguageArchitecture
{
    /// <summary>Qwen2ForCausalLM (InternVL2-1B, InternVL2.5-1B ...).</summary>
    Qwen2,
    /// <summary>InternLM2ForCausalLM (InternVL2-2B, InternVL2-8B, the paper's backbone).</summary>
    InternLM2,
}

/// <summary>RoPE scaling of a config: "linear" or "dynamic" (NTK) with its factor.</summary>
public sealed record RopeScaling(string Type, double Factor);

/// <summary>The llm_config of an InternVL folder, in the fields both decoders share.</summary>
public sealed record LanguageModelConfig
{
    /// <summary>Architecture names this package implements, as they appear in config.json.</summary>
    public static readonly IReadOnlyDictionary<string, LanguageArchitecture> Supported = new Dictionary<string, LanguageArchitecture>
    {
        ["Qwen2ForCausalLM"] = LanguageArchitecture.Qwen2,
        ["InternLM2ForCausalLM"] = LanguageArchitecture.InternLM2,
    };

    /// <summary>Which decoder.</summary>
    public required LanguageArchitecture Architecture { get; init; }
    /// <summary>Vocabulary size (rows of the embedding and the output head).</summary>
    public required int VocabSize { get; init; }
    /// <summary>Model width.</summary>
    public required int HiddenSize { get; init; }
    /// <summary>MLP width.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>Query heads.</summary>
    public required int NumAttentionHeads { get; init; }
    /// <summary>Key/value heads (grouped-query attention).</summary>
    public required int NumKeyValueHeads { get; init; }
    /// <summary>Decoder layers.</summary>
    public required int NumHiddenLayers { get; init; }
    /// <summary>Activation of the gated MLP ("silu").</summary>
    public string HiddenAct { get; init; } = "silu";
    /// <summary>Context the model was trained for; the dynamic-NTK threshold.</summary>
    public int MaxPositionEmbeddings { get; init; } = 32768;
    /// <summary>Epsilon of every RMSNorm.</summary>
    public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>RoPE base.</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>RoPE scaling, or null.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>Whether the output head reuses the token embedding.</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Bias on the attention input projections (Qwen2: always; InternLM2: config "bias", also on wo).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>Beginning-of-sequence id, if the config names one.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>End-of-sequence id, if the config names one.</summary>
    public int? EosTokenId { get; init; }
    /// <summary>Padding id, if the config names one.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>Standard deviation for fresh weights.</summary>
    public double InitializerRange { get; init; } = 0.02;
    /// <summary>Width of one head.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    internal static LanguageModelConfig Read(JsonConfigReader c)
    {
        var archs = c.Strings("architectures");
        var name = archs.FirstOrDefault(Supported.ContainsKey);
        if (name is null)
            throw new NotSupportedException(
                $"llm_config architecture '{(archs.Count == 0 ? "(none given)" : string.Join(", ", archs))}' is not supported; " +
                $"supported: {string.Join(", ", Supported.Keys)}.");
        var arch = Supported[name];
        RopeScaling? scaling = null;
        if (c.OptionalObject("rope_scaling") is { } rs)
        {
            var type = rs.Has("type") ? rs.String("type") : rs.String("rope_type");
            if (type is not ("linear" or "dynamic"))
                throw new NotSupportedException($"llm_config.rope_scaling type '{type}' is not supported; use linear or dynamic.");
            var factor = rs.Double("factor");
            if (factor < 1)
                throw new InvalidDataException($"llm_config.rope_scaling.factor must be >= 1, not {factor}.");
            scaling = new RopeScaling(type, factor);
        }
        if (arch == LanguageArchitecture.Qwen2 && c.Bool("use_sliding_window", false))
            throw new NotSupportedException("llm_config.use_sliding_window = true is not supported (no InternVL checkpoint uses it).");
        var config = new LanguageModelConfig
        {
            Architecture = arch,
            VocabSize = c.Int("vocab_size"),
            HiddenSize = c.Int("hidden_size"),
            IntermediateSize = c.Int("intermediate_size"),
            NumAttentionHeads = c.Int("num_attention_heads"),
            NumKeyValueHeads = c.Int("num_key_value_heads", c.Int("num_attention_heads")),
            NumHiddenLayers = c.Int("num_hidden_layers"),
            HiddenAct = c.String("hidden_act", "silu"),
            MaxPositionEmbeddings = c.Int("max_position_embeddings", 32768),
            RmsNormEps = c.Double("rms_norm_eps", 1e-6),
            RopeTheta = c.Double("rope_theta", 10000),
            RopeScaling = scaling,
            TieWordEmbeddings = c.Bool("tie_word_embeddings", false),
            // Qwen2 hard-codes q/k/v biases; InternLM2's class default for "bias" is true.
            AttentionBias = arch == LanguageArchitecture.Qwen2 || c.Bool("bias", true),
            BosTokenId = c.OptionalInt("bos_token_id"),
            EosTokenId = c.OptionalInt("eos_token_id"),
            PadTokenId = c.OptionalInt("pad_token_id"),
            InitializerRange = c.Double("initializer_range", 0.02),
        };
        if (config.HiddenAct != "silu")
            throw new NotSupportedException($"llm_config.hidden_act '{config.HiddenAct}' is not supported; use silu.");
        if (config.HiddenSize % config.NumAttentionHeads != 0 || config.NumAttentionHeads % config.NumKeyValueHeads != 0)
            throw new InvalidDataException(
                $"llm_config: hidden_size {config.HiddenSize}, num_attention_heads {config.NumAttentionHeads} and num_key_value_heads {config.NumKeyValueHeads} do not divide.");
        return config;
    }
}
