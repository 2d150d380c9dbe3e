using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>InternLM2 (the paper's backbone): <c>model.{tok_embeddings,layers,norm}</c> and <c>output</c>.</summary>
public sealed class InternLM2ForCausalLM : CausalLanguageModel
{
    private readonly InternLM2Model model;
    private readonly Linear? output;

    /// <summary>Creates the decoder for <paramref name="config"/>.</summary>
    public InternLM2ForCausalLM(LanguageModelConfig config) : base(nameof(InternLM2ForCausalLM), config)
    {
        model = new InternLM2Model(config);
        register_module(nameof(model), model);
        if (!config.TieWordEmbeddings)
        {
            output = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
            register_module(nameof(output), output);
        }
    }

    /// <inheritdoc/>
    public override Tensor EmbedTokens(Tensor inputIds) => model.tok_embeddings.forward(inputIds);

    /// <inheritdoc/>
    public override ScalarType EmbeddingDType => model.tok_embeddings.weight!.dtype;

    /// <inheritdoc/>
    protected override IEnumerable<DecoderLayer> DecoderLayers => model.layers;

    /// <inheritdoc/>
    protected override Tensor FinalNorm(Tensor hidden) => model.norm.forward(hidden);

    /// <inheritdoc/>
    public override Tensor OutputLogits(Tensor hidden) =>
        output is not null ? output.forward(hidden) : nn.functional.linear(hidden, model.tok_embeddings.weight!);

    /// <summary>Layer <paramref name="index"/>'s attention, for inspecting the wqkv split.</summary>
    public InternLM2Attention AttentionOf(int index) => model.layers[index].Attention;
}

/// <summary>InternLM2's body: <c>tok_embeddings</c>, <c>layers.N</c>, <c>norm</c>.</summary>
public sealed class InternLM2Model : nn.Module
{
    internal readonly Embedding tok_embeddings;
    internal readonly ModuleList<InternLM2DecoderLayer> layers;
    internal readonly RmsNorm norm;

    /// <summary>Creates the body.</summary>
    public InternLM2Model(LanguageModelConfig config) : base(nameof(InternLM2Model))
    {
        tok_embeddings = nn.Embedding(config.VocabSize, config.HiddenSize);
        layers = new ModuleList<InternLM2DecoderLayer>();
        for (int i = 0; i < config.NumHiddenLayers; i++)
            layers.Add(new InternLM2DecoderLayer(config));
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        register_module(nameof(tok_embeddings), tok_embeddings);
        register_module(nameof(layers), layers);
        register_module(nameof(norm), norm);
    }
}

/// <summary>An InternLM2 layer: <c>attention_norm</c>, <c>attention</c>, <c>ffn_norm</c>, <c>feed_forward</c>.</summary>
public sealed class InternLM2DecoderLayer : DecoderLayer
{
    private readonly InternLM2Attention attention;
    private readonly InternLM2FeedForward feed_forward;
    private readonly RmsNorm attention_norm;
    private readonly RmsNorm ffn_norm;

    /// <summary>Creates a layer.</summary>
    public InternLM2DecoderLayer(LanguageModelConfig config) : base(nameof(InternLM2DecoderLayer))
    {
        attention = new InternLM2Attention(config);
        feed_forward = new InternLM2FeedForward(config);
        attention_norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        ffn_norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        register_module(nameof(attention), attention);
        register_module(nameof(feed_forward), feed_forward);
        register_module(nameof(attention_norm), attention_norm);
        register_module(nameof(ffn_norm), ffn_norm);
    }

    internal InternLM2Attention Attention => attention;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor hidden, Tensor cos, Tensor sin, Tensor? mask, LayerKvCache? cache)
    {
        using var scope = torch.NewDisposeScope();
        hidden = hidden.Plus(attention.Forward(attention_norm.forward(hidden), cos, sin, mask, cache));
        hidden = hidden.Plus(feed_forward.forward(ffn_norm.forward(hidden)));
        return hidden.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// InternLM2 attention with the packed <c>wqkv</c> projection and <c>wo</c>. wqkv's output features are
/// grouped per KV head: [kvHeads][groups + 2][headDim], i.e. for KV head j its query heads j·G … j·G+G−1,
/// then key head j, then value head j. It is not [all q; all k; all v].
/// </summary>
public sealed class InternLM2Attention : nn.Module
{
    private readonly Linear wqkv;
    private readonly Linear wo;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;

    /// <summary>Creates the attention.</summary>
    public InternLM2Attention(LanguageModelConfig config) : base(nameof(InternLM2Attention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        wqkv = nn.Linear(config.HiddenSize, (long)(_heads + 2 * _kvHeads) * _headDim, hasBias: config.AttentionBias);
        wo = nn.Linear((long)_heads * _headDim, config.HiddenSize, hasBias: config.AttentionBias);
        register_module(nameof(wqkv), wqkv);
        register_module(nameof(wo), wo);
    }

    /// <summary>Queries [B, H, T, d], keys and values [B, KV, T, d], before RoPE.</summary>
    public (Tensor Query, Tensor Key, Tensor Value) Split(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int groups = _heads / _kvHeads;
        var packed = wqkv.call(x).view(b, t, _kvHeads, groups + 2, _headDim);
        var q = packed[.., .., .., ..groups, ..].reshape(b, t, _heads, _headDim).transpose(1, 2);
        var k = packed[.., .., .., groups, ..].transpose(1, 2);
        var v = packed[.., .., .., groups + 1, ..].transpose(1, 2);
        return (q.MoveToOuterDisposeScope(), k.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope());
    }

    /// <summary>Attention over [B, T, D] with RoPE tables and an additive mask; keys and values go through the cache when given.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, LayerKvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        var (q, k, v) = Split(x);
        q = RotaryEmbedding.Apply(q, cos, sin);
        k = RotaryEmbedding.Apply(k, cos, sin);
        if (cache is not null)
            (k, v) = cache.Append(k, v);
        return wo.call(GroupedQueryAttention.Attend(q, k, v, mask)).MoveToOuterDisposeScope();
    }
}
