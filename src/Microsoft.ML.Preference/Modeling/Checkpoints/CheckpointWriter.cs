using System.Text.RegularExpressions;
using TorchSharp;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// Saves tensors as a Hugging Face checkpoint folder: <c>model.safetensors</c>, or
/// <c>model-0000i-of-0000N.safetensors</c> shards plus <c>model.safetensors.index.json</c>, split by
/// <see cref="CheckpointShardPlanner"/> exactly as transformers' <c>save_pretrained</c> splits.
/// </summary>
internal static partial class CheckpointWriter
{
    /// <summary>transformers' default <c>max_shard_size</c>, "5GB" (decimal gigabytes, as it parses them).</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000L;

    /// <summary>Writes <paramref name="tensors"/> into <paramref name="directory"/>, creating it if needed.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="tensors">Names and tensors in save order (shards follow this order).</param>
    /// <param name="maxShardBytes">The shard size limit; a tensor larger than it gets a shard of its own.</param>
    /// <param name="dtype">
    /// When given, floating-point tensors are stored in this dtype (rounded as <c>Tensor.to</c> rounds);
    /// integer and bool tensors keep theirs, as with transformers' <c>torch_dtype</c>. Shard sizes are
    /// those of the stored dtype.
    /// </param>
    /// <remarks>
    /// Each file is written atomically (temporary file + rename); the index is written after its shards.
    /// Checkpoint files of an earlier save that the new one does not use (other shard counts, a stale index
    /// or single file) are deleted afterwards, so that <see cref="CheckpointFolder.Open"/> sees only the new
    /// checkpoint. Other files in the folder (config.json, tokenizer files) are left alone.
    /// </remarks>
    public static CheckpointSaveResult Save(
        string directory,
        IEnumerable<(string Name, torch.Tensor Tensor)> tensors,
        long maxShardBytes = DefaultMaxShardBytes,
        torch.ScalarType? dtype = null) => SaveStreamed(directory, tensors, maxShardBytes, dtype, materialize: null);

    /// <summary>
    /// The save behind the public overload; with <paramref name="materialize"/>, the tensors may be meta tensors
    /// (names, shapes and dtypes only) whose values are made one at a time as they are written, so that a
    /// checkpoint larger than memory can be written (<c>mpo init</c>).
    /// </summary>
    internal static CheckpointSaveResult SaveStreamed(
        string directory,
        IEnumerable<(string Name, torch.Tensor Tensor)> tensors,
        long maxShardBytes,
        torch.ScalarType? dtype,
        Func<string, torch.Tensor, torch.Tensor>? materialize)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        if (dtype is { } d && !torch.is_floating_point(d))
            throw new ArgumentException($"The checkpoint dtype must be a floating-point type, not {d}.", nameof(dtype));

        var list = tensors.ToList();
        // Validates names and dtypes before anything is written.
        var entries = SafetensorsWriter.Describe(list, dtype);
        var plan = CheckpointShardPlanner.Plan(entries.Select(e => e.ByteLength).ToArray(), maxShardBytes);
        System.IO.Directory.CreateDirectory(directory);

        var shardFiles = new List<string>();
        var weightMap = new List<KeyValuePair<string, string>>();
        for (int i = 0; i < plan.Count; i++)
        {
            var fileName = CheckpointShardPlanner.ShardFileName(i, plan.Count);
            var (offset, length) = plan[i].GetOffsetAndLength(list.Count);
            var part = list.GetRange(offset, length);
            SafetensorsWriter.Write(Path.Combine(directory, fileName), part, metadata: null, dtype, materialize);
            shardFiles.Add(fileName);
            weightMap.AddRange(part.Select(p => new KeyValuePair<string, string>(p.Name, fileName)));
        }

        long totalSize = entries.Sum(e => e.ByteLength);
        string? indexFile = null;
        if (plan.Count > 1)
        {
            indexFile = CheckpointFolder.IndexFileName;
            CheckpointIndex.Write(Path.Combine(directory, indexFile), totalSize, weightMap);
        }
        RemoveStaleFiles(directory, shardFiles, indexFile);
        return new CheckpointSaveResult(directory, shardFiles.AsReadOnly(), indexFile, totalSize, weightMap.AsReadOnly());
    }

    /// <summary>Deletes checkpoint files of an earlier save that the new one does not include.</summary>
    private static void RemoveStaleFiles(string directory, List<string> shardFiles, string? indexFile)
    {
        foreach (var path in System.IO.Directory.EnumerateFiles(directory))
        {
            var name = Path.GetFileName(path);
            bool checkpointFile = name == CheckpointFolder.SingleFileName || name == CheckpointFolder.IndexFileName || ShardName().IsMatch(name);
            if (checkpointFile && !shardFiles.Contains(name) && name != indexFile)
                File.Delete(path);
        }
    }

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$", RegexOptions.CultureInvariant)]
    private static partial Regex ShardName();
}
