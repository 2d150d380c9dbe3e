using System.Text.Json;
using System.Text.Json.Nodes;

namespace Microsoft.ML.Preference.Modeling.Configuration;

/// <summary>
/// An InternVL model folder's config.json (InternVLChatModel): the vision tower, the decoder and the
/// glue between them. Unknown fields are kept and written back unchanged by <see cref="Save"/>.
/// </summary>
public sealed record InternVLConfig
{
    /// <summary>The vision tower.</summary>
    public required InternVisionConfig Vision { get; init; }
    /// <summary>The decoder.</summary>
    public required LanguageModelConfig Language { get; init; }
    /// <summary>Pixel-shuffle ratio (0.5: 2×2 patches merge into one token).</summary>
    public double DownsampleRatio { get; init; } = 0.5;
    /// <summary>Pixel-shuffle version: "v2" (InternVL2) transposes back, "v1" does not.</summary>
    public string PsVersion { get; init; } = "v2";
    /// <summary>Which ViT layer feeds the projector: -1 = the last.</summary>
    public int SelectLayer { get; init; } = -1;
    /// <summary>The tile side the model expects.</summary>
    public int ForceImageSize { get; init; } = 448;
    /// <summary>The conversation template name (Hermes-2, internlm2-chat, internvl2_5 ...).</summary>
    public string Template { get; init; } = "Hermes-2";
    /// <summary>Whether images are tiled dynamically.</summary>
    public bool DynamicImageSize { get; init; } = true;
    /// <summary>Whether a thumbnail tile is added to multi-tile images.</summary>
    public bool UseThumbnail { get; init; } = true;
    /// <summary>Fewest tiles per image.</summary>
    public int MinDynamicPatch { get; init; } = 1;
    /// <summary>Most tiles per image.</summary>
    public int MaxDynamicPatch { get; init; } = 12;
    /// <summary>The dtype the checkpoint was saved in ("bfloat16", "float32" ...).</summary>
    public string TorchDtype { get; init; } = "float32";
    /// <summary>The JSON it was read from, kept so that saving loses nothing.</summary>
    public JsonObject? Raw { get; init; }

    /// <summary>Image tokens one tile becomes: (side / patch)² · ratio².</summary>
    public int NumImageToken => (int)(Math.Pow(ForceImageSize / Vision.PatchSize, 2) * DownsampleRatio * DownsampleRatio);

    /// <summary>Reads <c>config.json</c> from a model folder (or a path to the file itself).</summary>
    public static InternVLConfig Load(string folderOrFile)
    {
        var path = Directory.Exists(folderOrFile) ? Path.Combine(folderOrFile, "config.json") : folderOrFile;
        var c = JsonConfigReader.Load(path);
        var archs = c.Strings("architectures");
        if (archs.Count > 0 && !archs.Contains("InternVLChatModel"))
            throw new NotSupportedException($"{path}: architecture '{string.Join(", ", archs)}' is not supported; supported: InternVLChatModel.");
        var vision = InternVisionConfig.Read(c.Object("vision_config"));
        var config = new InternVLConfig
        {
            Vision = vision,
            Language = LanguageModelConfig.Read(c.Object("llm_config")),
            DownsampleRatio = c.Double("downsample_ratio", 0.5),
            PsVersion = c.String("ps_version", "v1"),
            SelectLayer = c.Int("select_layer", -1),
            ForceImageSize = c.Int("force_image_size", vision.ImageSize),
            Template = c.String("template", "Hermes-2"),
            DynamicImageSize = c.Bool("dynamic_image_size", true),
            UseThumbnail = c.Bool("use_thumbnail", true),
            MinDynamicPatch = c.Int("min_dynamic_patch", 1),
            MaxDynamicPatch = c.Int("max_dynamic_patch", 12),
            TorchDtype = c.String("torch_dtype", "float32"),
            Raw = c.Node,
        };
        if (config.PsVersion is not ("v1" or "v2"))
            throw new NotSupportedException($"{path}: ps_version '{config.PsVersion}' is not supported; use v1 or v2.");
        if (config.DownsampleRatio <= 0 || config.DownsampleRatio > 1 || Math.Abs(1 / config.DownsampleRatio - Math.Round(1 / config.DownsampleRatio)) > 1e-9)
            throw new InvalidDataException($"{path}: downsample_ratio {config.DownsampleRatio} must be 1/n.");
        int grid = config.ForceImageSize / vision.PatchSize;
        int step = (int)Math.Round(1 / config.DownsampleRatio);
        if (grid % step != 0)
            throw new InvalidDataException($"{path}: a {grid}x{grid} patch grid cannot be pixel-shuffled by {config.DownsampleRatio}.");
        return config;
    }

    /// <summary>Writes config.json into <paramref name="folder"/>: the original JSON where there is one.</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var node = Raw?.DeepClone() ?? ToJson();
        File.WriteAllText(Path.Combine(folder, "config.json"), node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The config in InternVL's JSON layout (for models made in code).</summary>
    public JsonObject ToJson()
    {
        var v = Vision;
        var l = Language;
        return new JsonObject
        {
            ["architectures"] = new JsonArray("InternVLChatModel"),
            ["model_type"] = "internvl_chat",
            ["downsample_ratio"] = DownsampleRatio,
            ["dynamic_image_size"] = DynamicImageSize,
            ["force_image_size"] = ForceImageSize,
            ["max_dynamic_patch"] = MaxDynamicPatch,
            ["min_dynamic_patch"] = MinDynamicPatch,
            ["use_thumbnail"] = UseThumbnail,
            ["ps_version"] = PsVersion,
            ["select_layer"] = SelectLayer,
            ["template"] = Template,
            ["torch_dtype"] = TorchDtype,
            ["vision_config"] = new JsonObject
            {
                ["architectures"] = new JsonArray("InternVisionModel"),
                ["model_type"] = "intern_vit_6b",
                ["hidden_size"] = v.HiddenSize,
                ["num_attention_heads"] = v.NumAttentionHeads,
                ["num_hidden_layers"] = v.NumHiddenLayers,
                ["intermediate_size"] = v.IntermediateSize,
                ["patch_size"] = v.PatchSize,
                ["image_size"] = v.ImageSize,
                ["num_channels"] = v.NumChannels,
                ["layer_norm_eps"] = v.LayerNormEps,
                ["qkv_bias"] = v.QkvBias,
                ["norm_type"] = v.NormType,
                ["qk_normalization"] = v.QkNormalization,
                ["hidden_act"] = v.HiddenAct,
                ["drop_path_rate"] = v.DropPathRate,
                ["initializer_range"] = v.InitializerRange,
                ["torch_dtype"] = TorchDtype,
            },
            ["llm_config"] = l.ToJson(TorchDtype),
        };
    }
}
