using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>
/// A decoder-only language model as InternVL drives it: token embeddings in, so that image features can be
/// spliced in between, and float32 logits out.
/// </summary>
internal abstract class CausalLanguageModel : nn.Module
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
    public static CausalLanguageModel Create(LanguageModelConfig config) => new DecoderForCausalLM(config);

    /// <summary>The input embeddings of <paramref name="inputIds"/> [B, T] → [B, T, D].</summary>
    public abstract Tensor EmbedTokens(Tensor inputIds);

    /// <summary>Recompute each decoder layer in backward instead of keeping its activations (training only).</summary>
    public bool GradientCheckpointing { get; set; }

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

    /// <summary>
    /// The final-norm hidden states [B, T, D]. With a <paramref name="cache"/>, the T new positions follow the
    /// cache's: <paramref name="attentionMask"/> then covers past + T keys and positions default to past..past+T-1;
    /// their keys and values are appended to the cache.
    /// </summary>
    /// <param name="inputsEmbeds">[B, T, D] input embeddings.</param>
    /// <param name="attentionMask">[B, past + T], 1 = token, 0 = padding; null = no padding.</param>
    /// <param name="positionIds">[B, T] positions; null = past..past+T-1.</param>
    /// <param name="cache">The KV cache of a generation, or null.</param>
    /// <param name="exactPaddingRows">
    /// True (default) computes padded positions exactly as Hugging Face does. False lets a right-padded batch use
    /// plain causal attention (real positions are unchanged, pad positions are not), which is faster and needs
    /// less memory: training uses it, since pad positions carry no label.
    /// </param>
    public Tensor HiddenStates(Tensor inputsEmbeds, Tensor? attentionMask, Tensor? positionIds = null, KvCache? cache = null,
        bool exactPaddingRows = true)
    {
        using var scope = torch.NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0, keys = past + t;
        var device = inputsEmbeds.device;
        if (attentionMask is not null && attentionMask.shape[1] != keys)
            throw new ArgumentException($"attention_mask covers {attentionMask.shape[1]} positions; the keys are {past} cached + {t} new.", nameof(attentionMask));
        positionIds ??= (torch.arange(t, device: device) + past).unsqueeze(0).expand(b, t);
        // Dynamic NTK sizes the RoPE base by the key length, as a fresh Hugging Face model does for this forward.
        var (cos, sin) = Rope.Tables(positionIds, keys);
        bool causalOnly = cache is null && (attentionMask is null || (!exactPaddingRows && AttentionMasks.IsRightPadded(attentionMask)));
        var mask = causalOnly ? null : AttentionMasks.CausalWithPadding(attentionMask, b, t, keys, inputsEmbeds.dtype, device);
        var hidden = inputsEmbeds;
        int index = 0;
        bool checkpoint = GradientCheckpointing && training && cache is null && torch.is_grad_enabled();
        foreach (var layer in DecoderLayers)
        {
            var slot = cache?[index++];
            hidden = checkpoint
                ? (mask is null
                    ? GradientCheckpoint.Run((h, c) => layer.Forward(h, c[0], c[1], null, null), hidden, cos, sin)
                    : GradientCheckpoint.Run((h, c) => layer.Forward(h, c[0], c[1], c[2], null), hidden, cos, sin, mask))
                : layer.Forward(hidden, cos, sin, mask, slot);
        }
        cache?.Advance(t);
        return FinalNorm(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>A cache sized for <paramref name="capacity"/> positions of <paramref name="batch"/> rows, in the model's dtype.</summary>
    public KvCache CreateCache(long batch, long capacity, Device device) =>
        new(Config.NumHiddenLayers, batch, Config.NumKeyValueHeads, capacity, Config.HeadDim, EmbeddingDType, device);

    /// <summary>The decoder layers, in order.</summary>
    protected abstract IEnumerable<DecoderLayer> DecoderLayers { get; }

    /// <summary>The last RMSNorm.</summary>
    protected abstract Tensor FinalNorm(Tensor hidden);

    /// <summary>The output head (lm_head / output, or the tied embedding).</summary>
    public abstract Tensor OutputLogits(Tensor hidden);

    /// <summary>The head's [V, D] weight (the embedding when tied), for log-probs computed in chunks.</summary>
    public abstract Tensor HeadWeight { get; }
}

/// <summary>A pre-norm decoder layer: x + attn(norm(x)), then x + mlp(norm(x)).</summary>
internal abstract class DecoderLayer : nn.Module
{
    /// <summary>Names the layer.</summary>
    protected DecoderLayer(string name) : base(name) { }

    /// <summary>Runs the layer on [B, T, D] with RoPE tables, an additive mask and, when generating, its cache slot.</summary>
    public abstract Tensor Forward(Tensor hidden, Tensor cos, Tensor sin, Tensor? mask, LayerKvCache? cache);
}
