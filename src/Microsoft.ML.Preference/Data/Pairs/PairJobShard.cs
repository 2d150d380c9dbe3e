using System.Globalization;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>
/// Which part of the input a pair job builds: shard <see cref="Index"/> of <see cref="Count"/> takes the input rows
/// whose position modulo Count is Index (a round robin, so shards get similar work whatever the input's order). Each
/// shard writes its own job file, resumable on its own; <see cref="PairShardMerger"/> joins the finished files.
/// </summary>
/// <param name="Index">This shard, 0-based.</param>
/// <param name="Count">How many shards the input is cut into.</param>
public sealed record PairJobShard(int Index, int Count)
{
    /// <summary>The whole input in one job.</summary>
    public static PairJobShard Whole { get; } = new(0, 1);

    /// <summary>Whether the job builds only a part of the input.</summary>
    public bool IsPartial => Count > 1;

    /// <summary>Throws <see cref="ArgumentException"/> naming the value out of range.</summary>
    public void Validate()
    {
        if (Count < 1)
            throw new ArgumentException($"The shard count must be at least 1, not {Count}.");
        if (Index < 0 || Index >= Count)
            throw new ArgumentException($"The shard index must be in [0, {Count - 1}] for {Count} shard(s), not {Index}.");
    }

    /// <summary>Whether the input row at <paramref name="position"/> (0-based) belongs to this shard.</summary>
    public bool Owns(int position) => position % Count == Index;

    /// <summary>
    /// The job file of this shard for the job file <paramref name="outputPath"/> the user named: the path itself for a
    /// whole job, otherwise <c>name.shard-K-of-N.jsonl</c> beside it, so every shard of a cluster job can be given the
    /// same <c>--out</c>.
    /// </summary>
    public string JobPath(string outputPath)
    {
        if (!IsPartial)
            return outputPath;
        var folder = Path.GetDirectoryName(outputPath) ?? "";
        var name = Path.GetFileNameWithoutExtension(outputPath);
        var extension = Path.GetExtension(outputPath);
        return Path.Combine(folder, $"{name}.shard-{Index}-of-{Count}{(extension.Length == 0 ? ".jsonl" : extension)}");
    }

    /// <summary>
    /// The shard a cluster scheduler gave this process, or null when none did: Kubernetes Indexed Jobs set
    /// <c>JOB_COMPLETION_INDEX</c> (the count is the Job's <c>completions</c>, which the pod is not told: it comes from
    /// <paramref name="count"/>); Slurm job arrays set <c>SLURM_ARRAY_TASK_ID</c>, <c>SLURM_ARRAY_TASK_MIN</c> and
    /// <c>SLURM_ARRAY_TASK_COUNT</c> (an array 1-8 is shards 0-7). Explicit <paramref name="index"/> and
    /// <paramref name="count"/> win over the variables.
    /// </summary>
    /// <param name="index">An explicit index (<c>--shard-index</c>), or null.</param>
    /// <param name="count">An explicit count (<c>--shard-count</c>), or null.</param>
    /// <param name="environment">Reads a variable (default: the process environment).</param>
    /// <exception cref="ArgumentException">A variable is not a whole number, or an index is given without a count.</exception>
    public static PairJobShard Resolve(int? index, int? count, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        int? Read(string name)
        {
            var text = environment(name);
            if (string.IsNullOrWhiteSpace(text))
                return null;
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value
                : throw new ArgumentException($"The environment variable {name}='{text}' is not a whole number.");
        }
        string? source = null;
        if (index is null && Read("JOB_COMPLETION_INDEX") is { } k8s)
        {
            index = k8s;
            source = "JOB_COMPLETION_INDEX (Kubernetes Indexed Job)";
        }
        else if (index is null && Read("SLURM_ARRAY_TASK_ID") is { } task)
        {
            index = task - (Read("SLURM_ARRAY_TASK_MIN") ?? 0);
            count ??= Read("SLURM_ARRAY_TASK_COUNT");
            source = "SLURM_ARRAY_TASK_ID (Slurm job array)";
        }
        if (index is null && count is null)
            return Whole;
        if (index is null)
            throw new ArgumentException($"--shard-count {count} needs the shard's index: --shard-index, or JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID set by the scheduler.");
        if (count is null)
            throw new ArgumentException($"The shard index comes from {source ?? "--shard-index"}, but the shard count is unknown: give --shard-count " +
                "(for a Kubernetes Indexed Job, its completions).");
        var shard = new PairJobShard(index.Value, count.Value);
        try
        {
            shard.Validate();
        }
        catch (ArgumentException e) when (source is not null)
        {
            throw new ArgumentException($"{e.Message} (the index comes from {source})", e);
        }
        return shard;
    }
}
