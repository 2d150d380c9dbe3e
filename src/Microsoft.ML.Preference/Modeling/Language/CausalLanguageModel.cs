using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>
/// A decoder-only language model as InternVL drives it: token embeddings in, so that image features can be
/// spliced in between, and float32 logits out.
/// </summary>
public abstract class CausalLanguageModel : nn.Module
{
    /// <summary>The configuration it was built from.</summary>
    public LanguageModelConfig Config { get; }

    /// <summary>The rotary embedding every layer shares.</summary>
    protected RotaryEmbedding Rope { get; }

    /// <summary>Sets up the shared parts.</summary>
    protected CausalLanguageModel(string name, LanguageModelConfig config) : base(name)
    {
        Config = config;
        Rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.MaxPositionEmbeddings, config.RopeScaling);
    }

    /// <summary>Builds the decoder that <paramref name="config"/> names.</summary>
    public static CausalLanguageModel Create(LanguageModelConfig config) => config.Architecture switch
    {
        LanguageArchitecture.Qwen2 => new Qwen2ForCausalLM(config),
        LanguageArchitecture.InternLM2 => new InternLM2ForCausalLM(config),
        _ => throw new NotSupportedException($"Language architecture {config.Architecture} is not supported."),
    };

    /// <summary>The input embeddings of <paramref name="inputIds"/> [B, T] → [B, T, D].</summary>
    public abstract Tensor EmbedTokens(Tensor inputIds);

    /// <summary>The embedding matrix's dtype (what image features are cast to before splicing).</summary>
    public abstract ScalarType EmbeddingDType { get; }

    /// <summary>
    /// Float32 logits [B, T, V] for <paramref name="inputsEmbeds"/> [B, T, D] with right or left padding given by
    /// <paramref name="attentionMask"/> [B, T] (1 = token, 0 = pad; null = no padding). Positions default to 0..T-1.
    /// </summary>
    public Tensor Forward(Tensor inputsEmbeds, Tensor? attentionMask, Tensor? positionIds = null)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = HiddenStates(inputsEmbeds, attentionMask, positionIds);
        return OutputLogits(hidden).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The final-norm hidden states [B, T, D].</summary>
    public Tensor HiddenStates(Tensor inputsEmbeds, Tensor? attentionMask, Tensor? positionIds = null)
    {
        using var scope = torch.NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        var device = inputsEmbeds.device;
        positionIds ??= torch.arange(t, device: device).unsqueeze(0).expand(b, t);
        var (cos, sin) = Rope.Tables(positionIds, t);
        var mask = AttentionMasks.CausalWithPadding(attentionMask, b, t, t, inputsEmbeds.dtype, device);
        var hidden = inputsEmbeds;
        foreach (var layer in DecoderLayers)
            hidden = layer.Forward(hidden, cos, sin, mask);
        return FinalNorm(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>The decoder layers, in order.</summary>
    protected abstract IEnumerable<DecoderLayer> DecoderLayers { get; }

    /// <summary>The last RMSNorm.</summary>
    protected abstract Tensor FinalNorm(Tensor hidden);

    /// <summary>The output head (lm_head / output, or the tied embedding).</summary>
    public abstract Tensor OutputLogits(Tensor hidden);
}

/// <summary>A pre-norm decoder layer: x + attn(norm(x)), then x + mlp(norm(x)).</summary>
public abstract class DecoderLayer : nn.Module
{
    /// <summary>Names the layer.</summary>
    protected DecoderLayer(string name) : base(name) { }

    /// <summary>Runs the layer on [B, T, D] with RoPE tables and an additive mask.</summary>
    public abstract Tensor Forward(Tensor hidden, Tensor cos, Tensor sin, Tensor mask);
}
