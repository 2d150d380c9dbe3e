using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Text;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>
/// Loads and saves an <see cref="InternVLChatModel"/> as a Hugging Face folder: config.json, model.safetensors or
/// sharded model-0000N-of-0000M.safetensors + model.safetensors.index.json, and the tokenizer files beside them.
/// Only safetensors are read: pickled *.bin checkpoints are refused, and nothing in the folder is executed.
/// </summary>
public static class InternVLModelFolder
{
    /// <summary>
    /// Reads the folder into a model of <paramref name="dtype"/> on <paramref name="device"/> (CPU when null).
    /// Every parameter must be in the checkpoint and every checkpoint tensor must be a parameter (strict), unless
    /// <paramref name="strict"/> is false.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="dtype">The dtype of the parameters (the checkpoint's F32/F16/BF16 are converted).</param>
    /// <param name="device">Where the model goes; CPU when null.</param>
    /// <param name="strict">Whether missing and unexpected keys are errors. When false, parameters the checkpoint lacks
    /// start with <see cref="WeightInitializer"/>'s values (in effect the <c>_init_weights</c> Hugging Face gives missing keys).</param>
    /// <param name="imageContextTokenId">The <c>&lt;IMG_CONTEXT&gt;</c> id for a folder without tokenizer files
    /// (a reference model saved next to its policy); read from the folder when null.</param>
    /// <exception cref="NotSupportedException">The config names an architecture this package does not implement.</exception>
    /// <exception cref="CheckpointMismatchException">Missing or unexpected keys (listed), or shapes that differ.</exception>
    public static InternVLChatModel Load(string folder, ScalarType dtype = ScalarType.Float32, Device? device = null, bool strict = true,
        long? imageContextTokenId = null)
    {
        TorchRuntime.Initialize();
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Model folder '{folder}' does not exist.");
        var config = InternVLConfig.Load(folder);
        long imageContextId = imageContextTokenId ?? ImageContextId(folder, config);
        using var checkpoint = CheckpointFolder.Open(folder);

        // Built on the meta device (names and shapes, no memory) in the target dtype, then each parameter is made
        // from its checkpoint tensor, copied once: building on the CPU first spent most of a real-size load giving
        // every weight an initial value that was then overwritten (InternVL2-2B: 35 s before, 2-3 s after).
        var previous = torch.get_default_dtype();
        torch.set_default_dtype(dtype);
        InternVLChatModel model;
        try
        {
            using (ConstructionDevice.Use(ConstructionDevice.Meta))
                model = new InternVLChatModel(config, imageContextId);
        }
        finally
        {
            torch.set_default_dtype(previous);
        }
        try
        {
            model.to(dtype);
            ModuleCheckpoint.Materialize(model, checkpoint, device, strict, TiedHeadKeys(config));
            // Every module records the device its parameters are on; they were built on meta.
            model.to(device ?? torch.CPU);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes config.json and the weights (sharded above <paramref name="maxShardBytes"/>, in <paramref name="dtype"/>
    /// when given) into <paramref name="folder"/>, plus added_tokens.json for the image tokens when the folder has
    /// no tokenizer files of its own.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="folder">Where to write; created if missing.</param>
    /// <param name="maxShardBytes">Largest shard; more data is split into model-0000N-of-0000M files with an index.</param>
    /// <param name="dtype">Storage dtype of floating-point weights; null keeps the parameters'.</param>
    /// <param name="tokenizerSource">A model folder whose tokenizer files are copied along (so the result is self-contained).</param>
    public static CheckpointSaveResult Save(InternVLChatModel model, string folder, long maxShardBytes = CheckpointWriter.DefaultMaxShardBytes,
        ScalarType? dtype = null, string? tokenizerSource = null)
    {
        Directory.CreateDirectory(folder);
        if (tokenizerSource is not null && Path.GetFullPath(tokenizerSource) != Path.GetFullPath(folder))
            foreach (var name in TokenizerFiles)
                if (File.Exists(Path.Combine(tokenizerSource, name)))
                    File.Copy(Path.Combine(tokenizerSource, name), Path.Combine(folder, name), overwrite: true);
        model.Config.Save(folder);
        var result = ModuleCheckpoint.Save(model, folder, maxShardBytes, dtype);
        if (!HasTokenizerFiles(folder))
            File.WriteAllText(Path.Combine(folder, "added_tokens.json"),
                $"{{\n  \"{SpecialTokenIds.ImageContextToken}\": {model.ImageContextTokenId}\n}}\n");
        return result;
    }

    /// <summary>
    /// <c>&lt;IMG_CONTEXT&gt;</c>'s id as InternVL finds it at run time, from the tokenizer files; a config's
    /// <c>img_context_token_id</c> is only the fallback for folders without them.
    /// </summary>
    public static long ImageContextId(string folder, InternVLConfig config)
    {
        if (HasTokenizerFiles(folder) && SpecialTokenIds.FromFolder(folder).ImageContextId is int id)
            return id;
        if (config.Raw?["img_context_token_id"] is { } fromConfig)
            return fromConfig.GetValue<long>();
        throw new InvalidDataException(
            $"{folder}: no id for {SpecialTokenIds.ImageContextToken} in added_tokens.json, tokenizer.json or tokenizer_config.json, " +
            "and config.json has no img_context_token_id.");
    }

    /// <summary>The files of a folder that belong to its tokenizer and chat settings (never code).</summary>
    public static IReadOnlyList<string> TokenizerFiles { get; } =
    [
        "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json",
        "special_tokens_map.json", "generation_config.json",
    ];

    /// <summary>
    /// With tie_word_embeddings the head is the embedding matrix; some exporters still write the head's copy
    /// (InternVL2-1B's Qwen2 does), which Hugging Face then ignores. So do we.
    /// </summary>
    private static string[] TiedHeadKeys(InternVLConfig config) => config.Language.TieWordEmbeddings
        ? ["language_model.lm_head.weight", "language_model.output.weight"]
        : [];

    private static bool HasTokenizerFiles(string folder) =>
        new[] { "added_tokens.json", "tokenizer.json", "tokenizer_config.json" }.Any(f => File.Exists(Path.Combine(folder, f)));
}
