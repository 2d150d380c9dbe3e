using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Layers;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Language;
using Microsoft.ML.Preference.Modeling.Vision;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>
/// InternVL's vision-language model: <c>vision_model</c> (InternViT) → pixel shuffle → <c>mlp1</c> projector,
/// spliced into <c>language_model</c>'s token embeddings at the <c>&lt;IMG_CONTEXT&gt;</c> positions.
/// Parameter names are the Hugging Face state_dict keys, so checkpoints load without renaming.
/// </summary>
public sealed class InternVLChatModel : nn.Module
{
    private readonly InternVisionModel vision_model;
    private readonly CausalLanguageModel language_model;
    private readonly Sequential mlp1;

    /// <summary>The configuration it was built from.</summary>
    public InternVLConfig Config { get; }

    /// <summary>The id of <c>&lt;IMG_CONTEXT&gt;</c>, taken from the folder's tokenizer files.</summary>
    public long ImageContextTokenId { get; }

    /// <summary>The vision tower.</summary>
    internal InternVisionModel VisionModel => vision_model;

    /// <summary>The decoder.</summary>
    internal CausalLanguageModel LanguageModel => language_model;

    /// <summary>The projector (LayerNorm, Linear, GELU, Linear).</summary>
    public Sequential Projector => mlp1;

    /// <summary>
    /// Gradient checkpointing of the vision and decoder layers: activations are recomputed in backward, cutting
    /// training memory to about one layer's activations per tower for roughly a third more compute.
    /// </summary>
    public bool GradientCheckpointing
    {
        get => vision_model.Encoder.GradientCheckpointing && language_model.GradientCheckpointing;
        set
        {
            vision_model.Encoder.GradientCheckpointing = value;
            language_model.GradientCheckpointing = value;
        }
    }

    /// <summary>Creates a model with freshly initialised weights.</summary>
    public InternVLChatModel(InternVLConfig config, long imageContextTokenId) : base(nameof(InternVLChatModel))
    {
        Config = config;
        ImageContextTokenId = imageContextTokenId;
        vision_model = new InternVisionModel(config.Vision);
        language_model = CausalLanguageModel.Create(config.Language);
        int step = (int)Math.Round(1 / config.DownsampleRatio);
        long merged = (long)config.Vision.HiddenSize * step * step;
        long llm = config.Language.HiddenSize;
        mlp1 = nn.Sequential(
            ("0", nn.LayerNorm(merged, device: ConstructionDevice.Current)),
            ("1", nn.Linear(merged, llm, device: ConstructionDevice.Current)),
            ("2", nn.GELU()),
            ("3", nn.Linear(llm, llm, device: ConstructionDevice.Current)));
        register_module(nameof(vision_model), vision_model);
        register_module(nameof(language_model), language_model);
        register_module(nameof(mlp1), mlp1);
    }

    /// <summary>
    /// InternVL's pixel shuffle of [N, W, H, C] features by <paramref name="ratio"/>: 2×2 neighbours are
    /// merged into one token of 4C features (ratio 0.5). v2 transposes back to row-major order; v1 does not.
    /// </summary>
    public static Tensor PixelShuffle(Tensor x, double ratio, string psVersion)
    {
        using var scope = torch.NewDisposeScope();
        long n = x.shape[0], w = x.shape[1], h = x.shape[2], c = x.shape[3];
        long hs = (long)(h * ratio), ws = (long)(w * ratio);
        var y = x.view(n, w, hs, (long)(c / ratio));
        y = y.permute(0, 2, 1, 3).contiguous();
        y = y.view(n, hs, ws, (long)(c / (ratio * ratio)));
        if (psVersion != "v1")
            y = y.permute(0, 2, 1, 3).contiguous();
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The pixel-shuffled ViT tokens [tiles, image tokens, 4C] before the projector.</summary>
    public Tensor ShuffledVisionFeatures(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = vision_model.HiddenState(pixelValues, Config.SelectLayer);
        hidden = hidden[.., 1.., ..]; // drop CLS
        long side = (long)Math.Round(Math.Sqrt(hidden.shape[1]));
        hidden = hidden.reshape(hidden.shape[0], side, side, -1);
        var shuffled = PixelShuffle(hidden, Config.DownsampleRatio, Config.PsVersion);
        return shuffled.reshape(shuffled.shape[0], -1, shuffled.shape[^1]).MoveToOuterDisposeScope();
    }

    /// <summary>InternVL's extract_feature: the projected image tokens [tiles, image tokens, D].</summary>
    public Tensor ExtractFeature(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        return mlp1.forward(ShuffledVisionFeatures(pixelValues)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Token embeddings of <paramref name="inputIds"/> [B, T] with the rows at <c>&lt;IMG_CONTEXT&gt;</c> replaced, in
    /// order, by <paramref name="vitEmbeds"/> [tiles, tokens, D] (tiles in batch order, tokens row-major).
    /// </summary>
    public Tensor InputEmbeddings(Tensor inputIds, Tensor vitEmbeds)
    {
        using var scope = torch.NewDisposeScope();
        var embeds = language_model.EmbedTokens(inputIds);
        var selected = inputIds.eq(ImageContextTokenId);
        long slots = selected.sum().item<long>();
        long rows = vitEmbeds.shape[0] * vitEmbeds.shape[1];
        if (slots != rows)
            throw new ArgumentException(
                $"The batch has {slots} <IMG_CONTEXT> tokens (id {ImageContextTokenId}) but its images give {rows} image tokens " +
                $"({vitEmbeds.shape[0]} tiles × {vitEmbeds.shape[1]}): each tile needs exactly {Config.NumImageToken} tokens in the prompt.");
        if (rows == 0)
            return embeds.MoveToOuterDisposeScope();
        var features = vitEmbeds.reshape(-1, embeds.shape[^1]).to(embeds.dtype);
        return embeds.masked_scatter(selected.unsqueeze(-1), features).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The whole model: float32 logits [B, T, V] for tiles <paramref name="pixelValues"/> [N, 3, S, S] (null for a
    /// text-only batch), <paramref name="inputIds"/> [B, T], <paramref name="attentionMask"/> [B, T] and
    /// <paramref name="imageFlags"/> [N] (tiles flagged 0 are dropped, as InternVL does for padding tiles).
    /// </summary>
    public Tensor Forward(Tensor? pixelValues, Tensor inputIds, Tensor? attentionMask = null, Tensor? imageFlags = null)
    {
        using var scope = torch.NewDisposeScope();
        var embeds = InputEmbeddings(inputIds, VisionTokens(pixelValues, imageFlags, inputIds.device));
        return language_model.Forward(embeds, attentionMask).MoveToOuterDisposeScope();
    }

    /// <summary>The projected tokens of the tiles whose flag is 1 (all when <paramref name="imageFlags"/> is null).</summary>
    public Tensor VisionTokens(Tensor? pixelValues, Tensor? imageFlags, Device device)
    {
        using var scope = torch.NewDisposeScope();
        if (pixelValues is null || pixelValues.shape[0] == 0)
            return torch.zeros(0, Config.NumImageToken, Config.Language.HiddenSize, device: device).MoveToOuterDisposeScope();
        var tokens = ExtractFeature(pixelValues);
        if (imageFlags is not null)
        {
            var flags = imageFlags.reshape(-1).to(tokens.device);
            if (flags.shape[0] != tokens.shape[0])
                throw new ArgumentException($"image_flags has {flags.shape[0]} entries for {tokens.shape[0]} tiles.");
            tokens = tokens.index(flags.eq(1));
        }
        return tokens.MoveToOuterDisposeScope();
    }
}
