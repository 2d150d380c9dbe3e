namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// Hugging Face's rule for splitting a state dict into shards (transformers' <c>shard_checkpoint</c>):
/// walk the tensors in order and start a new shard when adding the next one would take the current shard
/// past the limit. A tensor larger than the limit therefore ends up alone in its shard; order is kept.
/// </summary>
internal static class CheckpointShardPlanner
{
    /// <summary>Splits tensors of the given byte sizes into consecutive shards.</summary>
    /// <param name="byteSizes">The byte size of each tensor, in save order.</param>
    /// <param name="maxShardBytes">The shard size limit in bytes (positive).</param>
    /// <returns>For each shard, the range of tensor indices it holds; one empty shard when there are no tensors.</returns>
    public static IReadOnlyList<Range> Plan(IReadOnlyList<long> byteSizes, long maxShardBytes)
    {
        ArgumentNullException.ThrowIfNull(byteSizes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        var shards = new List<Range>();
        int start = 0;
        long current = 0;
        for (int i = 0; i < byteSizes.Count; i++)
        {
            long size = byteSizes[i];
            ArgumentOutOfRangeException.ThrowIfNegative(size);
            // "> max" and "current shard not empty": an oversize tensor opens a shard, it never stays empty.
            if (i > start && size > maxShardBytes - current)
            {
                shards.Add(start..i);
                start = i;
                current = 0;
            }
            current += size;
        }
        shards.Add(start..byteSizes.Count);
        return shards;
    }

    /// <summary>The Hugging Face file name of shard <paramref name="index"/> (0-based) of <paramref name="count"/>.</summary>
    public static string ShardFileName(int index, int count) =>
        count == 1 ? CheckpointFolder.SingleFileName : $"model-{index + 1:D5}-of-{count:D5}.safetensors";
}
