namespace Microsoft.ML.Preference.Modeling.Configuration;

/// <summary>How a family packs the attention input projections.</summary>
internal enum QkvPacking
{
    /// <summary>Three Linear layers (<c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c>).</summary>
    Separate,
    /// <summary>
    /// One Linear whose output features are [all queries; all keys; all values] (Phi-3's <c>qkv_proj</c>:
    /// transformers models/phi3/modeling_phi3.py slices <c>qkv[..., :query_pos]</c>, then keys, then values).
    /// </summary>
    Concatenated,
    /// <summary>
    /// One Linear whose output features are grouped per KV head: [kvHeads][groups + 2][headDim], i.e. for KV head j its
    /// query heads j·G … j·G+G−1, then key head j, then value head j (InternLM2's <c>wqkv</c>,
    /// OpenGVLab/InternVL internvl_chat/internvl/model/internlm2/modeling_internlm2.py).
    /// </summary>
    GroupedPerKvHead,
}

/// <summary>Where a bias flag comes from: a llm_config key (with its class default) or a constant of the family.</summary>
/// <param name="Key">The llm_config key, or null when the family fixes the value.</param>
/// <param name="Default">The value when the key is absent (the Hugging Face config class default), or the constant.</param>
internal sealed record BiasRule(string? Key, bool Default)
{
    /// <summary>A value the family fixes in code.</summary>
    public static BiasRule Always(bool value) => new(null, value);

    internal bool Read(JsonConfigReader c) => Key is null ? Default : c.Bool(Key, Default);
}

/// <summary>
/// Everything that tells one decoder family from another, as data: the Hugging Face parameter names, how the
/// projections are packed, where biases are, whether queries and keys are normalised. The one decoder
/// implementation (<see cref="Language.DecoderForCausalLM"/>) reads it; adding a family is adding a row to
/// <see cref="DecoderFamilies"/>.
/// </summary>
internal sealed record DecoderFamily
{
    /// <summary>The enum value of the family.</summary>
    public required LanguageArchitecture Architecture { get; init; }
    /// <summary>The llm_config <c>architectures</c> entry.</summary>
    public required string ArchitectureName { get; init; }
    /// <summary>The llm_config <c>model_type</c>.</summary>
    public required string ModelType { get; init; }
    /// <summary>The token embedding under <c>model.</c> (<c>embed_tokens</c>, <c>tok_embeddings</c>).</summary>
    public string Embedding { get; init; } = "embed_tokens";
    /// <summary>The untied output head (<c>lm_head</c>, <c>output</c>).</summary>
    public string Head { get; init; } = "lm_head";
    /// <summary>The norm before attention.</summary>
    public string AttentionNorm { get; init; } = "input_layernorm";
    /// <summary>The attention block.</summary>
    public string Attention { get; init; } = "self_attn";
    /// <summary>The norm before the MLP.</summary>
    public string MlpNorm { get; init; } = "post_attention_layernorm";
    /// <summary>The MLP block.</summary>
    public string Mlp { get; init; } = "mlp";
    /// <summary>How q, k and v are packed.</summary>
    public QkvPacking Packing { get; init; } = QkvPacking.Separate;
    /// <summary>The packed projection's name (<c>wqkv</c>, <c>qkv_proj</c>) when <see cref="Packing"/> is not Separate.</summary>
    public string PackedQkv { get; init; } = "qkv_proj";
    /// <summary>The output projection.</summary>
    public string OutputProjection { get; init; } = "o_proj";
    /// <summary>The gate projection, or the fused gate+up projection when <see cref="FusedGateUp"/>.</summary>
    public string Gate { get; init; } = "gate_proj";
    /// <summary>The up projection (unused when <see cref="FusedGateUp"/>).</summary>
    public string Up { get; init; } = "up_proj";
    /// <summary>The down projection.</summary>
    public string Down { get; init; } = "down_proj";
    /// <summary>Gate and up in one Linear, gate first (Phi-3's <c>gate_up_proj</c>, split with <c>chunk(2, -1)</c>).</summary>
    public bool FusedGateUp { get; init; }
    /// <summary>Per-head RMSNorm on queries and keys before RoPE (Qwen3's <c>q_norm</c>, <c>k_norm</c>).</summary>
    public bool QkNorm { get; init; }
    /// <summary>Bias of the q, k, v projections.</summary>
    public required BiasRule QkvBias { get; init; }
    /// <summary>Bias of the output projection.</summary>
    public required BiasRule OutputBias { get; init; }
    /// <summary>Bias of the MLP projections.</summary>
    public BiasRule MlpBias { get; init; } = BiasRule.Always(false);
    /// <summary>Whether llm_config.use_sliding_window exists in the family (it is refused when true).</summary>
    public bool HasSlidingWindowFlag { get; init; }
    /// <summary>InternVL's <c>wrap_llm_lora</c> target list for the family (without the parent names).</summary>
    public required IReadOnlyList<string> LoraTargets { get; init; }

    /// <summary>The Linear layers of one decoder layer, in the family's names, relative to the layer.</summary>
    public IEnumerable<string> LayerLinears()
    {
        if (Packing == QkvPacking.Separate)
            foreach (var p in new[] { "q_proj", "k_proj", "v_proj" })
                yield return $"{Attention}.{p}";
        else
            yield return $"{Attention}.{PackedQkv}";
        yield return $"{Attention}.{OutputProjection}";
        yield return $"{Mlp}.{Gate}";
        if (!FusedGateUp)
            yield return $"{Mlp}.{Up}";
        yield return $"{Mlp}.{Down}";
    }
}

/// <summary>The decoder families of the published InternVL2, 2.5, 3 and dense 3.5 checkpoints.</summary>
internal static class DecoderFamilies
{
    private static readonly string[] LlamaStyleTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>
    /// Qwen2 / Qwen2.5 (InternVL2-1B, InternVL2.5-1B/7B/38B/78B, InternVL3-1B/2B/8B/14B/38B/78B): q/k/v biases always,
    /// none on o_proj (transformers models/qwen2/modeling_qwen2.py).
    /// </summary>
    public static DecoderFamily Qwen2 { get; } = new()
    {
        Architecture = LanguageArchitecture.Qwen2, ArchitectureName = "Qwen2ForCausalLM", ModelType = "qwen2",
        QkvBias = BiasRule.Always(true), OutputBias = BiasRule.Always(false), HasSlidingWindowFlag = true,
        LoraTargets = LlamaStyleTargets,
    };

    /// <summary>
    /// InternLM2 / 2.5 (InternVL2-2B/8B/26B, InternVL2.5-2B/8B/26B): packed grouped <c>wqkv</c>, <c>wo</c>, <c>w1</c>/<c>w3</c>/<c>w2</c>;
    /// config "bias" (class default true) on wqkv and wo (internvl_chat/internvl/model/internlm2/configuration_internlm2.py).
    /// </summary>
    public static DecoderFamily InternLM2 { get; } = new()
    {
        Architecture = LanguageArchitecture.InternLM2, ArchitectureName = "InternLM2ForCausalLM", ModelType = "internlm2",
        Embedding = "tok_embeddings", Head = "output", AttentionNorm = "attention_norm", Attention = "attention",
        MlpNorm = "ffn_norm", Mlp = "feed_forward", Packing = QkvPacking.GroupedPerKvHead, PackedQkv = "wqkv",
        OutputProjection = "wo", Gate = "w1", Up = "w3", Down = "w2",
        QkvBias = new BiasRule("bias", true), OutputBias = new BiasRule("bias", true),
        LoraTargets = ["wqkv", "wo", "w1", "w2", "w3"],
    };

    /// <summary>
    /// Phi-3 (InternVL2-4B on Phi-3-mini-128k): fused <c>qkv_proj</c> [q; k; v] and <c>gate_up_proj</c>, no biases
    /// (transformers models/phi3/modeling_phi3.py). InternVL's wrap_llm_lora names these fused layers
    /// (internvl_chat/internvl/model/internvl_chat/modeling_internvl_chat.py).
    /// </summary>
    public static DecoderFamily Phi3 { get; } = new()
    {
        Architecture = LanguageArchitecture.Phi3, ArchitectureName = "Phi3ForCausalLM", ModelType = "phi3",
        Packing = QkvPacking.Concatenated, PackedQkv = "qkv_proj", Gate = "gate_up_proj", FusedGateUp = true,
        QkvBias = BiasRule.Always(false), OutputBias = BiasRule.Always(false),
        LoraTargets = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    };

    /// <summary>
    /// Llama (InternVL2-40B's Yi-34B, InternVL2-Llama3-76B's Hermes-2-Theta-Llama-3-70B): config attention_bias on
    /// q/k/v/o and mlp_bias on the MLP, both default false (transformers models/llama/modeling_llama.py).
    /// </summary>
    public static DecoderFamily Llama { get; } = new()
    {
        Architecture = LanguageArchitecture.Llama, ArchitectureName = "LlamaForCausalLM", ModelType = "llama",
        QkvBias = new BiasRule("attention_bias", false), OutputBias = new BiasRule("attention_bias", false),
        MlpBias = new BiasRule("mlp_bias", false), LoraTargets = LlamaStyleTargets,
    };

    /// <summary>
    /// InternLM3 (InternVL3-9B on internlm3-8b-instruct): Llama names; config qkv_bias on q/k/v, config bias on o_proj
    /// and the MLP (internlm3-8b-instruct modeling_internlm3.py).
    /// </summary>
    public static DecoderFamily InternLM3 { get; } = new()
    {
        Architecture = LanguageArchitecture.InternLM3, ArchitectureName = "InternLM3ForCausalLM", ModelType = "internlm3",
        QkvBias = new BiasRule("qkv_bias", false), OutputBias = new BiasRule("bias", false), MlpBias = new BiasRule("bias", false),
        LoraTargets = LlamaStyleTargets,
    };

    /// <summary>
    /// Qwen3 dense (InternVL3.5-1B … 38B): per-head RMSNorm <c>q_norm</c>/<c>k_norm</c> before RoPE, config attention_bias
    /// on q/k/v/o (default false), an explicit head_dim (transformers models/qwen3/modeling_qwen3.py).
    /// </summary>
    public static DecoderFamily Qwen3 { get; } = new()
    {
        Architecture = LanguageArchitecture.Qwen3, ArchitectureName = "Qwen3ForCausalLM", ModelType = "qwen3",
        QkNorm = true, QkvBias = new BiasRule("attention_bias", false), OutputBias = new BiasRule("attention_bias", false),
        HasSlidingWindowFlag = true, LoraTargets = LlamaStyleTargets,
    };

    /// <summary>Every supported family.</summary>
    public static IReadOnlyList<DecoderFamily> All { get; } = [Qwen2, InternLM2, Phi3, Llama, InternLM3, Qwen3];

    /// <summary>Mixture-of-experts decoders some InternVL3.5 checkpoints use; refused by name.</summary>
    public static IReadOnlyList<string> RefusedMixtureOfExperts { get; } = ["Qwen3MoeForCausalLM", "GptOssForCausalLM"];

    /// <summary>The family of <paramref name="architecture"/>.</summary>
    public static DecoderFamily Of(LanguageArchitecture architecture) =>
        All.FirstOrDefault(f => f.Architecture == architecture)
        ?? throw new NotSupportedException($"Language architecture {architecture} is not supported.");

    /// <summary>The family whose config name is <paramref name="architectureName"/>, or null.</summary>
    public static DecoderFamily? Named(string architectureName) => All.FirstOrDefault(f => f.ArchitectureName == architectureName);
}
