using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Text;
using Microsoft.ML.Preference.Text.Templates;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>What <see cref="RandomInternVLFolder.Create"/> wrote.</summary>
/// <param name="Folder">The model folder.</param>
/// <param name="Config">Its config.</param>
/// <param name="Parameters">Parameters written.</param>
/// <param name="Checkpoint">The shards and index.</param>
/// <param name="TokenizerVocabulary">Ids of the tokenizer written (equal to the config's vocab_size).</param>
/// <param name="ImageContextTokenId">The id of <c>&lt;IMG_CONTEXT&gt;</c>.</param>
internal sealed record RandomFolderResult(string Folder, InternVLConfig Config, long Parameters, CheckpointSaveResult Checkpoint,
    int TokenizerVocabulary, int ImageContextTokenId);

/// <summary>
/// Writes a real-size InternVL model folder with random weights (<c>mpo init</c>): the config of a published
/// checkpoint (<see cref="PublishedConfigNames"/>) or any config.json, the weights as the Hub lays them out
/// (model-0000k-of-0000n.safetensors of at most 5 GB + model.safetensors.index.json), and a byte-level BPE
/// tokenizer with as many ids as the embedding and the special tokens of the config's chat template.
/// </summary>
/// <remarks>
/// The model is built on the meta device (names and shapes, no memory) and each tensor's values are made just
/// before its bytes are written, so a folder of any size needs the memory of its largest tensor (in float32), not
/// of the model. Values follow <see cref="WeightInitializer"/>: N(0, std²) matrices, zero biases, unit norms and
/// layer scales, from one generator seeded by <c>seed</c> and walked in checkpoint order.
/// </remarks>
internal static class RandomInternVLFolder
{
    private const string ResourcePrefix = "published-configs/";

    /// <summary>InternVL's tokens around and inside an image and its grounding tags, after the template's tokens.</summary>
    public static IReadOnlyList<string> InternVLTokens { get; } =
        ["<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>"];

    /// <summary>The published configs embedded in the package (e.g. internvl2-1b), sorted.</summary>
    public static IReadOnlyList<string> PublishedConfigNames { get; } = typeof(RandomInternVLFolder).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal))
        .Select(n => n[ResourcePrefix.Length..^".json".Length]).Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// The config named <paramref name="nameOrFile"/>: a published name (case-insensitive; "InternVL2-1B" or
    /// "internvl2-1b"), else a config.json path or a folder that holds one.
    /// </summary>
    /// <exception cref="FileNotFoundException">Neither a published name nor an existing file.</exception>
    public static InternVLConfig ResolveConfig(string nameOrFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(nameOrFile);
        var name = nameOrFile.Trim().ToLowerInvariant().Replace('.', '_');
        if (PublishedConfigNames.Contains(name))
        {
            var temp = Path.Combine(Path.GetTempPath(), $"mpo-config-{Guid.NewGuid():N}.json");
            using (var stream = typeof(RandomInternVLFolder).Assembly.GetManifestResourceStream(ResourcePrefix + name + ".json")!)
            using (var file = File.Create(temp))
                stream.CopyTo(file);
            try
            {
                return InternVLConfig.Load(temp);
            }
            finally
            {
                File.Delete(temp);
            }
        }
        if (File.Exists(nameOrFile) || File.Exists(Path.Combine(nameOrFile, "config.json")))
            return InternVLConfig.Load(nameOrFile);
        throw new FileNotFoundException(
            $"'{nameOrFile}' is neither a published config ({string.Join(", ", PublishedConfigNames)}) nor a config.json file.", nameOrFile);
    }

    /// <summary>Writes the folder; see the class remarks.</summary>
    /// <param name="config">The architecture.</param>
    /// <param name="folder">Where to write (created; an existing checkpoint there is replaced).</param>
    /// <param name="dtype">Storage dtype of the weights (bfloat16 as published, float16 or float32).</param>
    /// <param name="seed">Seed of the values.</param>
    /// <param name="std">Standard deviation of matrices and embeddings.</param>
    /// <param name="maxShardBytes">Largest shard (transformers' default 5 GB).</param>
    /// <param name="progress">Called with each tensor's name before it is made.</param>
    public static RandomFolderResult Create(InternVLConfig config, string folder, ScalarType dtype = ScalarType.BFloat16, long seed = 0,
        double std = 0.02, long maxShardBytes = CheckpointWriter.DefaultMaxShardBytes, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!torch.is_floating_point(dtype))
            throw new ArgumentException($"The weights' dtype must be floating point, not {dtype}.", nameof(dtype));
        TorchRuntime.Initialize();
        Directory.CreateDirectory(folder);

        var template = ChatTemplates.Get(config.Template);
        var (special, eos, pad) = SpecialTokensOf(template);
        int vocab = checked((int)config.Language.VocabSize);
        int merges = vocab - ByteLevelBpeTrainer.ByteAlphabet.Count - special.Count;
        if (merges < 0)
            throw new ArgumentException(
                $"vocab_size {vocab} is smaller than the 256 byte symbols and {special.Count} special tokens a tokenizer for template {template.Name} needs.", nameof(config));
        foreach (var stale in InternVLModelFolder.TokenizerFiles)
            File.Delete(Path.Combine(folder, stale));
        var ids = ByteLevelBpeTrainer.Write(folder, ByteLevelBpeTrainer.SyntheticMerges(merges), special, eosToken: eos, padToken: pad);
        int imageContext = ids["<IMG_CONTEXT>"];

        var dtypeName = dtype switch
        {
            ScalarType.BFloat16 => "bfloat16",
            ScalarType.Float16 => "float16",
            ScalarType.Float32 => "float32",
            _ => throw new ArgumentException($"Weights are stored as bfloat16, float16 or float32, not {dtype}.", nameof(dtype)),
        };
        var json = (config.Raw?.DeepClone() as JsonObject) ?? config.ToJson();
        json["torch_dtype"] = dtypeName;
        json["img_context_token_id"] = imageContext;
        foreach (var part in new[] { "vision_config", "llm_config" })
            if (json[part] is JsonObject sub)
                sub["torch_dtype"] = dtypeName;
        File.WriteAllText(Path.Combine(folder, "config.json"), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

        InternVLChatModel meta;
        using (ConstructionDevice.Use(ConstructionDevice.Meta))
            meta = new InternVLChatModel(config, imageContext);
        using (meta)
        using (torch.no_grad())
        {
            var state = meta.state_dict().Select(kv => (kv.Key, kv.Value)).ToList();
            long parameters = state.Sum(s => s.Value.numel());
            var generator = new Generator((ulong)seed);
            Tensor Make(string name, Tensor shapeOnMeta)
            {
                progress?.Invoke(name);
                return WeightInitializer.InitialValue(name, shapeOnMeta.shape, dtype, std, generator);
            }
            var saved = CheckpointWriter.SaveStreamed(folder, state, maxShardBytes, dtype, Make);
            return new RandomFolderResult(folder, config, parameters, saved, vocab, imageContext);
        }
    }

    /// <summary>
    /// The special tokens a tokenizer for <paramref name="template"/> needs, in id order: the end-of-text token
    /// (padding), the template's <c>&lt;|...|&gt;</c> tokens, then <see cref="InternVLTokens"/>. For Hermes-2 this is
    /// Qwen2's order, so InternVL2-1B's ids come out as published (<c>&lt;|im_end|&gt;</c> 151645,
    /// <c>&lt;IMG_CONTEXT&gt;</c> 151648).
    /// </summary>
    private static (List<string> Tokens, string Eos, string Pad) SpecialTokensOf(ChatTemplate template)
    {
        const string pad = "<|endoftext|>";
        var tokens = new List<string> { pad };
        foreach (var text in new[] { template.SystemTemplate, template.UserRole, template.AssistantRole, template.Separator }.Concat(template.StopStrings))
            foreach (Match m in Regex.Matches(text, @"<\|[^|<>\s]+\|>"))
                if (!tokens.Contains(m.Value))
                    tokens.Add(m.Value);
        tokens.AddRange(InternVLTokens);
        var eos = tokens.Contains(template.EndOfTurn) ? template.EndOfTurn : pad;
        return (tokens, eos, pad);
    }
}
