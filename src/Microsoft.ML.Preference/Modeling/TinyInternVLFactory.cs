using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Text;
using TorchSharp;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>Sizes of a model made by <see cref="TinyInternVLFactory"/>.</summary>
public sealed record TinyInternVLOptions
{
    /// <summary>Tile side in pixels (a multiple of 28). Default 56: 16 patches, 4 image tokens per tile.</summary>
    public int ImageSize { get; init; } = 56;
    /// <summary>ViT width. Default 32.</summary>
    public int VisionHidden { get; init; } = 32;
    /// <summary>ViT layers. Default 2.</summary>
    public int VisionLayers { get; init; } = 2;
    /// <summary>Decoder width. Default 64.</summary>
    public int Hidden { get; init; } = 64;
    /// <summary>Decoder layers. Default 2.</summary>
    public int Layers { get; init; } = 2;
    /// <summary>Decoder query heads (KV heads are half). Default 4.</summary>
    public int Heads { get; init; } = 4;
    /// <summary>Decoder MLP width. Default 4 × Hidden.</summary>
    public int? Intermediate { get; init; }
    /// <summary>BPE merges learned from the corpus. Default 200.</summary>
    public int Merges { get; init; } = 200;
    /// <summary>Most tiles per image. Default 1 (one tile per image keeps tiny runs fast).</summary>
    public int MaxDynamicPatch { get; init; } = 1;
    /// <summary>Seed of the weights. Default 0.</summary>
    public long Seed { get; init; }
}

/// <summary>
/// Makes a complete, randomly initialised InternVL model folder (Qwen2 decoder, Hermes-2 template, byte-level BPE
/// tokenizer learned from a corpus): what tests, samples and the quickstart train from, in the same layout as a
/// real InternVL2 checkpoint so that every loading path is the real one.
/// </summary>
public static class TinyInternVLFactory
{
    /// <summary>The special tokens the tokenizer gets, in id order after the learned vocabulary.</summary>
    public static IReadOnlyList<string> SpecialTokens { get; } =
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>"];

    /// <summary>Writes the folder and returns its config.</summary>
    public static InternVLConfig Create(string folder, IEnumerable<string> corpus, TinyInternVLOptions? options = null)
    {
        options ??= new TinyInternVLOptions();
        var merges = ByteLevelBpeTrainer.LearnMerges(corpus, options.Merges);
        var special = ByteLevelBpeTrainer.Write(folder, merges, SpecialTokens, eosToken: "<|im_end|>", padToken: "<|endoftext|>");
        int vocab = special.Values.Max() + 1;
        var config = new InternVLConfig
        {
            Vision = new InternVisionConfig
            {
                HiddenSize = options.VisionHidden, NumAttentionHeads = 2, NumHiddenLayers = options.VisionLayers,
                IntermediateSize = options.VisionHidden * 2, PatchSize = 14, ImageSize = options.ImageSize,
            },
            Language = new LanguageModelConfig
            {
                Architecture = LanguageArchitecture.Qwen2, VocabSize = vocab, HiddenSize = options.Hidden,
                IntermediateSize = options.Intermediate ?? options.Hidden * 4, NumAttentionHeads = options.Heads,
                NumKeyValueHeads = Math.Max(1, options.Heads / 2), NumHiddenLayers = options.Layers, MaxPositionEmbeddings = 4096,
                RopeTheta = 10000, AttentionBias = true, BosTokenId = special["<|endoftext|>"], EosTokenId = special["<|im_end|>"],
                PadTokenId = special["<|endoftext|>"],
            },
            ForceImageSize = options.ImageSize,
            Template = "Hermes-2",
            MaxDynamicPatch = options.MaxDynamicPatch,
            PsVersion = "v2",
        };
        using var model = new InternVLChatModel(config, special["<IMG_CONTEXT>"]);
        WeightInitializer.Initialize(model, std: 0.02, seed: options.Seed);
        InternVLModelFolder.Save(model, folder);
        return config;
    }
}
