namespace Microsoft.ML.Preference.Modeling.Configuration;

/// <summary>The decoder families an InternVL folder can carry (their differences: <see cref="DecoderFamilies"/>).</summary>
public enum LanguageArchitecture
{
    /// <summary>Qwen2ForCausalLM (InternVL2-1B, InternVL2.5-1B ...).</summary>
    Qwen2,
    /// <summary>InternLM2ForCausalLM (InternVL2-2B, InternVL2-8B, the paper's backbone).</summary>
    InternLM2,
    /// <summary>Phi3ForCausalLM (InternVL2-4B).</summary>
    Phi3,
    /// <summary>LlamaForCausalLM (InternVL2-40B on Yi-34B, InternVL2-Llama3-76B).</summary>
    Llama,
    /// <summary>InternLM3ForCausalLM (InternVL3-9B).</summary>
    InternLM3,
    /// <summary>Qwen3ForCausalLM, dense (InternVL3.5).</summary>
    Qwen3,
}

/// <summary>The llm_config of an InternVL folder, in the fields every decoder family shares.</summary>
public sealed record LanguageModelConfig
{
    /// <summary>Architecture names this package implements, as they appear in config.json.</summary>
    public static readonly IReadOnlyDictionary<string, LanguageArchitecture> Supported =
        DecoderFamilies.All.ToDictionary(f => f.ArchitectureName, f => f.Architecture);

    /// <summary>The family's names and layout.</summary>
    internal DecoderFamily Family => DecoderFamilies.Of(Architecture);

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
    /// <summary>Bias on the attention input projections (q, k, v or the packed one); where it comes from: <see cref="DecoderFamily.QkvBias"/>.</summary>
    public bool AttentionBias { get; init; }
    /// <summary>Bias on the attention output projection (<see cref="DecoderFamily.OutputBias"/>).</summary>
    public bool OutputBias { get; init; }
    /// <summary>Bias on the MLP projections (<see cref="DecoderFamily.MlpBias"/>).</summary>
    public bool MlpBias { get; init; }
    /// <summary>Beginning-of-sequence id, if the config names one.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>End-of-sequence id, if the config names one.</summary>
    public int? EosTokenId { get; init; }
    /// <summary>Padding id, if the config names one.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>Standard deviation for fresh weights.</summary>
    public double InitializerRange { get; init; } = 0.02;
    /// <summary>Width of one head: config head_dim where given (Qwen3, InternLM3), else hidden / heads.</summary>
    public int HeadDim { get => _headDim ?? HiddenSize / NumAttentionHeads; init => _headDim = value; }
    private readonly int? _headDim;
    /// <summary>Whether config.json names head_dim (written back only then).</summary>
    public bool HasExplicitHeadDim => _headDim.HasValue;

    internal static LanguageModelConfig Read(JsonConfigReader c)
    {
        var archs = c.Strings("architectures");
        if (archs.FirstOrDefault(DecoderFamilies.RefusedMixtureOfExperts.Contains) is { } moe)
            throw new NotSupportedException(
                $"llm_config architecture '{moe}' is a mixture-of-experts decoder, which this package does not implement; " +
                $"supported: {string.Join(", ", Supported.Keys)}.");
        var name = archs.FirstOrDefault(Supported.ContainsKey);
        if (name is null)
            throw new NotSupportedException(
                $"llm_config architecture '{(archs.Count == 0 ? "(none given)" : string.Join(", ", archs))}' is not supported; " +
                $"supported: {string.Join(", ", Supported.Keys)}.");
        var family = DecoderFamilies.Named(name)!;
        if (family.HasSlidingWindowFlag && c.Bool("use_sliding_window", false))
            throw new NotSupportedException("llm_config.use_sliding_window = true is not supported (no InternVL checkpoint uses it).");
        if (c.Has("partial_rotary_factor") && c.Double("partial_rotary_factor") != 1.0)
            throw new NotSupportedException("llm_config.partial_rotary_factor other than 1 is not supported (no InternVL checkpoint uses it).");
        int hidden = c.Int("hidden_size"), heads = c.Int("num_attention_heads");
        int? explicitHeadDim = c.OptionalInt("head_dim");
        int headDim = explicitHeadDim ?? (heads > 0 ? hidden / heads : 0);
        int maxPositions = c.Int("max_position_embeddings", 32768);
        var config = new LanguageModelConfig
        {
            Architecture = family.Architecture,
            VocabSize = c.Int("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = c.Int("intermediate_size"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = c.Int("num_key_value_heads", heads),
            NumHiddenLayers = c.Int("num_hidden_layers"),
            HiddenAct = c.String("hidden_act", "silu"),
            MaxPositionEmbeddings = maxPositions,
            RmsNormEps = c.Double("rms_norm_eps", 1e-6),
            RopeTheta = c.Double("rope_theta", 10000),
            RopeScaling = RopeScaling.Read(c, headDim, maxPositions),
            TieWordEmbeddings = c.Bool("tie_word_embeddings", false),
            AttentionBias = family.QkvBias.Read(c),
            OutputBias = family.OutputBias.Read(c),
            MlpBias = family.MlpBias.Read(c),
            BosTokenId = c.OptionalInt("bos_token_id"),
            EosTokenId = FirstId(c, "eos_token_id"),
            PadTokenId = c.OptionalInt("pad_token_id"),
            InitializerRange = c.Double("initializer_range", 0.02),
        };
        if (explicitHeadDim is { } d)
            config = config with { HeadDim = d };
        if (config.HiddenAct != "silu")
            throw new NotSupportedException($"llm_config.hidden_act '{config.HiddenAct}' is not supported; use silu.");
        if (heads <= 0 || config.NumKeyValueHeads <= 0 || heads % config.NumKeyValueHeads != 0 ||
            (explicitHeadDim is null && hidden % heads != 0))
            throw new InvalidDataException(
                $"llm_config: hidden_size {hidden}, num_attention_heads {heads} and num_key_value_heads {config.NumKeyValueHeads} do not divide.");
        return config;
    }

    // Llama-3 configs give eos_token_id as a list; the first is the end of a turn's text.
    private static int? FirstId(JsonConfigReader c, string key) =>
        c.Node[key] is System.Text.Json.Nodes.JsonArray array ? (array.Count > 0 ? (int?)array[0]!.GetValue<int>() : null) : c.OptionalInt(key);

    /// <summary>The llm_config object in the family's own field names (for configs made in code).</summary>
    public System.Text.Json.Nodes.JsonObject ToJson(string torchDtype)
    {
        var family = Family;
        var node = new System.Text.Json.Nodes.JsonObject
        {
            ["architectures"] = new System.Text.Json.Nodes.JsonArray(family.ArchitectureName),
            ["model_type"] = family.ModelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["hidden_act"] = HiddenAct,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["rope_scaling"] = RopeScaling?.ToJson(),
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenId,
            ["pad_token_id"] = PadTokenId,
            ["initializer_range"] = InitializerRange,
            ["torch_dtype"] = torchDtype,
        };
        if (HasExplicitHeadDim)
            node["head_dim"] = HeadDim;
        if (RopeScaling is { Type: "longrope" } longRope)
            node["original_max_position_embeddings"] = longRope.OriginalMaxPositionEmbeddings;
        // Each bias flag under the key its family reads it from; a key two flags share holds one value.
        foreach (var (rule, value) in new[] { (family.QkvBias, AttentionBias), (family.OutputBias, OutputBias), (family.MlpBias, MlpBias) })
            if (rule.Key is not null)
                node[rule.Key] = value;
        return node;
    }
}
