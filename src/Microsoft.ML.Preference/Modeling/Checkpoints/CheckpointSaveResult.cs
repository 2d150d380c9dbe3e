namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>What <see cref="CheckpointWriter.Save"/> wrote.</summary>
/// <param name="Directory">The checkpoint folder.</param>
/// <param name="ShardFiles">The shard file names, in order (<c>model.safetensors</c> alone when unsharded).</param>
/// <param name="IndexFile">The index file name, or null when a single file was written.</param>
/// <param name="TotalSize">Bytes of tensor data written (the index's <c>metadata.total_size</c>).</param>
/// <param name="WeightMap">Tensor name to shard file name, in save order.</param>
public sealed record CheckpointSaveResult(
    string Directory,
    IReadOnlyList<string> ShardFiles,
    string? IndexFile,
    long TotalSize,
    IReadOnlyList<KeyValuePair<string, string>> WeightMap);
