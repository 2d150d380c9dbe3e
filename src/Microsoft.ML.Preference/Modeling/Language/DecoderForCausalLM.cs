using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>
/// The one decoder of every supported family: <c>model.{embedding,layers,norm}</c> and the head (unless tied), each
/// registered under the Hugging Face name its <see cref="DecoderFamily"/> gives, so that parameter names are the
/// checkpoint's keys (TorchSharp names a module's children by what register_module is told, not by field names).
/// </summary>
internal sealed class DecoderForCausalLM : CausalLanguageModel
{
    private readonly DecoderBody model;
    private readonly RenamedChild<Linear>? head;

    /// <summary>Creates the decoder for <paramref name="config"/>.</summary>
    public DecoderForCausalLM(LanguageModelConfig config) : base(config.Family.ArchitectureName, config)
    {
        model = new DecoderBody(config);
        register_module(nameof(model), model);
        if (!config.TieWordEmbeddings)
        {
            var linear = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: ConstructionDevice.Current);
            register_module(config.Family.Head, linear);
            head = new(linear);
        }
    }

    /// <inheritdoc/>
    public override Tensor EmbedTokens(Tensor inputIds) => model.Embedding.forward(inputIds);

    /// <inheritdoc/>
    public override ScalarType EmbeddingDType => model.Embedding.weight!.dtype;

    /// <inheritdoc/>
    protected override IEnumerable<DecoderLayer> DecoderLayers => model.Layers;

    /// <inheritdoc/>
    protected override Tensor FinalNorm(Tensor hidden) => model.Norm.forward(hidden);

    /// <inheritdoc/>
    public override Tensor OutputLogits(Tensor hidden) =>
        head is not null ? head.Value.call(hidden) : nn.functional.linear(hidden, model.Embedding.weight!);

    /// <inheritdoc/>
    public override Tensor HeadWeight => head?.Value.weight ?? model.Embedding.weight!;

    /// <summary>Layer <paramref name="index"/>'s attention, for inspecting how its projections split.</summary>
    public DecoderAttention AttentionOf(int index) => model.Layers[index].Attention;
}

/// <summary>The body: embedding, <c>layers.N</c>, <c>norm</c>.</summary>
internal sealed class DecoderBody : nn.Module
{
    private readonly RenamedChild<Embedding> _embedding;
    private readonly ModuleList<DecoderBlock> layers;
    private readonly RmsNorm norm;

    internal Embedding Embedding => _embedding.Value;
    internal ModuleList<DecoderBlock> Layers => layers;
    internal RmsNorm Norm => norm;

    /// <summary>Creates the body.</summary>
    public DecoderBody(LanguageModelConfig config) : base(nameof(DecoderBody))
    {
        var embedding = ConstructionDevice.Embedding(config.VocabSize, config.HiddenSize);
        layers = new ModuleList<DecoderBlock>();
        for (int i = 0; i < config.NumHiddenLayers; i++)
            layers.Add(new DecoderBlock(config));
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        register_module(config.Family.Embedding, embedding);
        register_module(nameof(layers), layers);
        register_module(nameof(norm), norm);
        _embedding = new(embedding);
    }
}

/// <summary>A pre-norm layer: x + attention(norm(x)), then x + mlp(norm(x)), under the family's names.</summary>
internal sealed class DecoderBlock : DecoderLayer
{
    private readonly RenamedChild<RmsNorm> _attentionNorm;
    private readonly RenamedChild<RmsNorm> _mlpNorm;
    private readonly RenamedChild<GatedMlp> _mlp;
    private readonly RenamedChild<DecoderAttention> _attention;

    internal DecoderAttention Attention => _attention;

    /// <summary>Creates a layer.</summary>
    public DecoderBlock(LanguageModelConfig config) : base(nameof(DecoderBlock))
    {
        var family = config.Family;
        var attention = new DecoderAttention(config);
        var mlp = new GatedMlp(config);
        var attentionNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        var mlpNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        register_module(family.Attention, attention);
        register_module(family.Mlp, mlp);
        register_module(family.AttentionNorm, attentionNorm);
        register_module(family.MlpNorm, mlpNorm);
        (_attention, _mlp, _attentionNorm, _mlpNorm) = (new(attention), new(mlp), new(attentionNorm), new(mlpNorm));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor hidden, Tensor cos, Tensor sin, Tensor? mask, LayerKvCache? cache)
    {
        using var scope = torch.NewDisposeScope();
        hidden = hidden.Plus(_attention.Value.Forward(_attentionNorm.Value.forward(hidden), cos, sin, mask, cache));
        hidden = hidden.Plus(_mlp.Value.forward(_mlpNorm.Value.forward(hidden)));
        return hidden.MoveToOuterDisposeScope();
    }
}
