namespace Microsoft.ML.Preference.Modeling.Configuration;

/// <summary>The vision_config of an InternVL folder (InternVisionModel / InternViT).</summary>
public sealed record InternVisionConfig
{
    /// <summary>Width of the ViT.</summary>
    public required int HiddenSize { get; init; }
    /// <summary>Attention heads per layer.</summary>
    public required int NumAttentionHeads { get; init; }
    /// <summary>Encoder layers.</summary>
    public required int NumHiddenLayers { get; init; }
    /// <summary>Width of the MLP.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>Side of a square patch in pixels (14 in InternViT).</summary>
    public int PatchSize { get; init; } = 14;
    /// <summary>Side of the (square) input tile in pixels.</summary>
    public int ImageSize { get; init; } = 448;
    /// <summary>Image channels.</summary>
    public int NumChannels { get; init; } = 3;
    /// <summary>Epsilon of norm1/norm2 (and of q/k norms).</summary>
    public double LayerNormEps { get; init; } = 1e-6;
    /// <summary>Whether the fused qkv projection has a bias.</summary>
    public bool QkvBias { get; init; } = true;
    /// <summary>"layer_norm" (InternViT-300M) or "rms_norm" (InternViT-6B).</summary>
    public string NormType { get; init; } = "layer_norm";
    /// <summary>RMS-normalise queries and keys (InternViT-6B).</summary>
    public bool QkNormalization { get; init; }
    /// <summary>Activation of the MLP; only the exact-erf "gelu" is used by InternViT.</summary>
    public string HiddenAct { get; init; } = "gelu";
    /// <summary>Stochastic-depth rate of the last layer (linearly increasing from 0), training only.</summary>
    public double DropPathRate { get; init; }
    /// <summary>Standard deviation for fresh weights.</summary>
    public double InitializerRange { get; init; } = 0.02;
    /// <summary>Patches per side of a tile.</summary>
    public int GridSize => ImageSize / PatchSize;

    internal static InternVisionConfig Read(JsonConfigReader c)
    {
        var config = new InternVisionConfig
        {
            HiddenSize = c.Int("hidden_size"),
            NumAttentionHeads = c.Int("num_attention_heads"),
            NumHiddenLayers = c.Int("num_hidden_layers"),
            IntermediateSize = c.Int("intermediate_size"),
            PatchSize = c.Int("patch_size", 14),
            ImageSize = c.Int("image_size", 448),
            NumChannels = c.Int("num_channels", 3),
            LayerNormEps = c.Double("layer_norm_eps", 1e-6),
            QkvBias = c.Bool("qkv_bias", true),
            NormType = c.String("norm_type", "layer_norm"),
            QkNormalization = c.Bool("qk_normalization", false),
            HiddenAct = c.String("hidden_act", "gelu"),
            DropPathRate = c.Double("drop_path_rate", 0.0),
            InitializerRange = c.Double("initializer_range", 0.02),
        };
        config.Validate(c);
        return config;
    }

    private void Validate(JsonConfigReader c)
    {
        var archs = c.Strings("architectures");
        if (archs.Count > 0 && !archs.Contains("InternVisionModel"))
            throw new NotSupportedException($"vision_config architecture '{string.Join(", ", archs)}' is not supported; supported: InternVisionModel.");
        if (NormType is not ("layer_norm" or "rms_norm"))
            throw new NotSupportedException($"vision_config.norm_type '{NormType}' is not supported; use layer_norm or rms_norm.");
        if (HiddenAct != "gelu")
            throw new NotSupportedException($"vision_config.hidden_act '{HiddenAct}' is not supported; InternViT uses gelu.");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"vision_config.hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}.");
    }
}
