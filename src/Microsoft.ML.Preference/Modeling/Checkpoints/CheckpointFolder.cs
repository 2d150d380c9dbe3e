using TorchSharp;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// The weights of a Hugging Face model folder: either <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c>. Every shard is opened and validated up front, and the index is
/// checked against the shards, so a folder that opens is a folder whose every tensor can be read.
/// </summary>
/// <remarks>
/// Pickle checkpoints (<c>pytorch_model.bin</c>, <c>*.pt</c>, ...) are never loaded: unpickling runs code
/// chosen by whoever made the file. Such folders are refused with a message that says how to convert them.
/// </remarks>
internal sealed class CheckpointFolder : IDisposable
{
    /// <summary>The single-file checkpoint name.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The index of a sharded checkpoint.</summary>
    public const string IndexFileName = CheckpointIndex.FileName;

    private static readonly string[] PickleFiles =
        ["pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "model.ckpt"];

    private readonly Dictionary<string, SafetensorsFile> _shardOf;
    private readonly SafetensorsFile[] _shards;

    private CheckpointFolder(string directory, string? indexPath, long? declaredTotalSize, SafetensorsFile[] shards, Dictionary<string, SafetensorsFile> shardOf)
    {
        Directory = directory;
        IndexPath = indexPath;
        DeclaredTotalSize = declaredTotalSize;
        _shards = shards;
        _shardOf = shardOf;
        Shards = Array.AsReadOnly(shards);
        Names = Array.AsReadOnly(shards.SelectMany(s => s.Names).ToArray());
        TotalSize = shards.Sum(s => s.TotalTensorBytes);
    }

    /// <summary>The folder, as given to <see cref="Open"/>.</summary>
    public string Directory { get; }

    /// <summary>The index file of a sharded checkpoint; null for a single <c>model.safetensors</c>.</summary>
    public string? IndexPath { get; }

    /// <summary>The shards in file-name order (one for a single-file checkpoint).</summary>
    public IReadOnlyList<SafetensorsFile> Shards { get; }

    /// <summary>Every tensor name: shard by shard, and within a shard in the order of the bytes.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Bytes of tensor data over all shards.</summary>
    public long TotalSize { get; }

    /// <summary>The index's <c>metadata.total_size</c>, when there is an index that states it.</summary>
    public long? DeclaredTotalSize { get; }

    /// <summary>Opens a model folder (see the class remarks for what is accepted).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder holds no safetensors checkpoint (or a shard is missing).</exception>
    /// <exception cref="NotSupportedException">The folder holds only a pickle checkpoint.</exception>
    /// <exception cref="InvalidDataException">The index or a shard is malformed, or they disagree (see <see cref="CheckpointFormatErrors"/>).</exception>
    public static CheckpointFolder Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!System.IO.Directory.Exists(directory))
            throw new DirectoryNotFoundException($"The checkpoint folder '{directory}' does not exist.");

        var indexPath = Path.Combine(directory, IndexFileName);
        if (File.Exists(indexPath))
            return OpenSharded(directory, indexPath);

        var single = Path.Combine(directory, SingleFileName);
        if (File.Exists(single))
            return OpenSingle(directory, single);

        var pickle = PickleFiles.FirstOrDefault(f => File.Exists(Path.Combine(directory, f)));
        if (pickle is not null)
            throw new NotSupportedException(
                $"The checkpoint folder '{directory}' holds only '{pickle}', a PyTorch pickle checkpoint. Pickle files can run arbitrary code " +
                "when loaded, so they are refused. Convert the checkpoint to safetensors first, for example in Python with " +
                "transformers: AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True).");
        throw new FileNotFoundException(
            $"The checkpoint folder '{directory}' holds neither '{IndexFileName}' nor '{SingleFileName}'.", Path.Combine(directory, SingleFileName));
    }

    /// <summary>True when the checkpoint holds a tensor of that name.</summary>
    public bool Contains(string name) => _shardOf.ContainsKey(name);

    /// <summary>The shard that holds a tensor.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor; the message names the folder.</exception>
    public SafetensorsFile ShardOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _shardOf.TryGetValue(name, out var shard)
            ? shard
            : throw new KeyNotFoundException($"The checkpoint '{Directory}' has no tensor '{name}'.");
    }

    /// <summary>The header entry of a tensor (dtype, shape, offsets in its shard).</summary>
    public SafetensorsTensorInfo GetInfo(string name) => ShardOf(name).GetInfo(name);

    /// <summary>Reads a tensor; see <see cref="SafetensorsFile.Read"/>.</summary>
    public torch.Tensor Read(string name, torch.ScalarType? dtype = null, torch.Device? device = null) =>
        ShardOf(name).Read(name, dtype, device);

    /// <summary>Copies a tensor into an existing one of the same shape; see <see cref="SafetensorsFile.CopyInto"/>.</summary>
    public void CopyInto(string name, torch.Tensor destination) => ShardOf(name).CopyInto(name, destination);

    /// <summary>Closes every shard.</summary>
    public void Dispose()
    {
        foreach (var shard in _shards)
            shard.Dispose();
    }

    private static CheckpointFolder OpenSingle(string directory, string path)
    {
        var file = SafetensorsFile.Open(path);
        var shardOf = file.Names.ToDictionary(n => n, _ => file, StringComparer.Ordinal);
        return new CheckpointFolder(directory, indexPath: null, declaredTotalSize: null, [file], shardOf);
    }

    private static CheckpointFolder OpenSharded(string directory, string indexPath)
    {
        var index = CheckpointIndex.Read(indexPath, directory);
        // A missing shard is reported as such, before any other shard's contents are judged.
        foreach (var shardName in index.Shards)
        {
            var shardPath = Path.Combine(directory, shardName);
            if (!File.Exists(shardPath))
                throw new FileNotFoundException(
                    $"The index '{indexPath}' lists the shard '{shardName}', which is not in '{directory}'.", shardPath);
        }

        var opened = new List<SafetensorsFile>();
        try
        {
            var shardOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var shardName in index.Shards)
            {
                var shard = SafetensorsFile.Open(Path.Combine(directory, shardName));
                opened.Add(shard);
                CheckShardAgainstIndex(index, shardName, shard);
                foreach (var name in shard.Names)
                    shardOf.Add(name, shard);
            }
            // Every listed tensor is in some opened shard: each shard holds exactly the names mapped to it.
            foreach (var (name, shardName) in index.WeightMap)
            {
                if (!shardOf.ContainsKey(name))
                    throw CheckpointFormatErrors.Create(indexPath, name,
                        $"the index maps this tensor to '{shardName}', but that shard does not hold it");
            }
            return new CheckpointFolder(directory, indexPath, index.DeclaredTotalSize, [.. opened], shardOf);
        }
        catch
        {
            foreach (var shard in opened)
                shard.Dispose();
            throw;
        }
    }

    /// <summary>A shard must hold only names that the index maps to it: anything else is stale or foreign data.</summary>
    private static void CheckShardAgainstIndex(CheckpointIndex index, string shardName, SafetensorsFile shard)
    {
        foreach (var name in shard.Names)
        {
            if (!index.WeightMap.TryGetValue(name, out var mapped))
                throw CheckpointFormatErrors.Create(index.Path, name,
                    $"the shard '{shardName}' holds this tensor, but the index does not list it");
            if (!string.Equals(mapped, shardName, StringComparison.Ordinal))
                throw CheckpointFormatErrors.Create(index.Path, name,
                    $"the shard '{shardName}' holds this tensor, but the index maps it to '{mapped}'");
        }
    }
}
