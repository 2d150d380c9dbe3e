using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>Qwen2 (InternVL2-1B's decoder): <c>model.{embed_tokens,layers,norm}</c> and <c>lm_head</c> (unless tied).</summary>
public sealed class Qwen2ForCausalLM : CausalLanguageModel
{
    private readonly Qwen2Model model;
    private readonly Linear? lm_head;

    /// <summary>Creates the decoder for <paramref name="config"/>.</summary>
    public Qwen2ForCausalLM(LanguageModelConfig config) : base(nameof(Qwen2ForCausalLM), config)
    {
        model = new Qwen2Model(config);
        register_module(nameof(model), model);
        if (!config.TieWordEmbeddings)
        {
            lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
            register_module(nameof(lm_head), lm_head);
        }
    }

    /// <inheritdoc/>
    public override Tensor EmbedTokens(Tensor inputIds) => model.embed_tokens.forward(inputIds);

    /// <inheritdoc/>
    public override ScalarType EmbeddingDType => model.embed_tokens.weight!.dtype;

    /// <inheritdoc/>
    protected override IEnumerable<DecoderLayer> DecoderLayers => model.layers;

    /// <inheritdoc/>
    protected override Tensor FinalNorm(Tensor hidden) => model.norm.forward(hidden);

    /// <inheritdoc/>
    public override Tensor OutputLogits(Tensor hidden) =>
        lm_head is not null ? lm_head.forward(hidden) : nn.functional.linear(hidden, model.embed_tokens.weight!);
}

/// <summary>Qwen2's body: <c>embed_tokens</c>, <c>layers.N</c>, <c>norm</c>.</summary>
public sealed class Qwen2Model : nn.Module
{
    internal readonly Embedding embed_tokens;
    internal readonly ModuleList<Qwen2DecoderLayer> layers;
    internal readonly RmsNorm norm;

    /// <summary>Creates the body.</summary>
    public Qwen2Model(LanguageModelConfig config) : base(nameof(Qwen2Model))
    {
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize);
        layers = new ModuleList<Qwen2DecoderLayer>();
        for (int i = 0; i < config.NumHiddenLayers; i++)
            layers.Add(new Qwen2DecoderLayer(config));
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        register_module(nameof(embed_tokens), embed_tokens);
        register_module(nameof(layers), layers);
        register_module(nameof(norm), norm);
    }
}

/// <summary>A Qwen2 layer: <c>input_layernorm</c>, <c>self_attn</c>, <c>post_attention_layernorm</c>, <c>mlp</c>.</summary>
public sealed class Qwen2DecoderLayer : DecoderLayer
{
    private readonly RmsNorm input_layernorm;
    private readonly Qwen2Attention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly Qwen2Mlp mlp;

    /// <summary>Creates a layer.</summary>
    public Qwen2DecoderLayer(LanguageModelConfig config) : base(nameof(Qwen2DecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        self_attn = new Qwen2Attention(config);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        mlp = new Qwen2Mlp(config);
        register_module(nameof(self_attn), self_attn);
        register_module(nameof(mlp), mlp);
        register_module(nameof(input_layernorm), input_layernorm);
        register_module(nameof(post_attention_layernorm), post_attention_layernorm);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor hidden, Tensor cos, Tensor sin, Tensor? mask, LayerKvCache? cache)
    {
        using var scope = torch.NewDisposeScope();
        hidden = hidden.Plus(self_attn.Forward(input_layernorm.forward(hidden), cos, sin, mask, cache));
        hidden = hidden.Plus(mlp.forward(post_attention_layernorm.forward(hidden)));
        return hidden.MoveToOuterDisposeScope();
    }
}

/// <summary>Qwen2 attention: <c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c> (with biases), <c>o_proj</c> (without).</summary>
public sealed class Qwen2Attention : nn.Module
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;

    /// <summary>Creates the attention.</summary>
    public Qwen2Attention(LanguageModelConfig config) : base(nameof(Qwen2Attention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        q_proj = nn.Linear(config.HiddenSize, (long)_heads * _headDim, hasBias: config.AttentionBias);
        k_proj = nn.Linear(config.HiddenSize, (long)_kvHeads * _headDim, hasBias: config.AttentionBias);
        v_proj = nn.Linear(config.HiddenSize, (long)_kvHeads * _headDim, hasBias: config.AttentionBias);
        o_proj = nn.Linear((long)_heads * _headDim, config.HiddenSize, hasBias: false);
        register_module(nameof(q_proj), q_proj);
        register_module(nameof(k_proj), k_proj);
        register_module(nameof(v_proj), v_proj);
        register_module(nameof(o_proj), o_proj);
    }

    /// <summary>Attention over [B, T, D] with RoPE tables and an additive mask; keys and values go through the cache when given.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, LayerKvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.call(x).view(b, t, _heads, _headDim).transpose(1, 2);
        var k = k_proj.call(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        var v = v_proj.call(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        q = RotaryEmbedding.Apply(q, cos, sin);
        k = RotaryEmbedding.Apply(k, cos, sin);
        if (cache is not null)
            (k, v) = cache.Append(k, v);
        return o_proj.call(GroupedQueryAttention.Attend(q, k, v, mask)).MoveToOuterDisposeScope();
    }
}
