using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>Loads and saves a TorchSharp module's <c>state_dict</c> as a Hugging Face safetensors checkpoint.</summary>
internal static class ModuleCheckpoint
{
    /// <summary>
    /// Copies every entry of <paramref name="module"/>'s state dict from <paramref name="folder"/>, converting
    /// each to the parameter's dtype and device, without autograd.
    /// </summary>
    /// <param name="module">The module whose parameters and buffers are overwritten in place.</param>
    /// <param name="folder">The checkpoint.</param>
    /// <param name="strict">
    /// When true (the default) any missing or unexpected key is an error. Shape mismatches are an error
    /// either way, as in PyTorch's <c>load_state_dict</c>.
    /// </param>
    /// <param name="ignoredKeys">
    /// Checkpoint keys the module deliberately has no parameter for (a tied output head saved anyway): neither
    /// loaded nor reported as unexpected.
    /// </param>
    /// <exception cref="CheckpointMismatchException">
    /// Keys or shapes do not match; thrown before anything is copied, so the module is left unchanged.
    /// </exception>
    public static CheckpointLoadResult LoadInto(torch.nn.Module module, CheckpointFolder folder, bool strict = true,
        IReadOnlyCollection<string>? ignoredKeys = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(folder);
        var state = module.state_dict();
        var (missing, unexpected) = Check(state, folder, strict, ignoredKeys);

        var loaded = new List<string>();
        using (torch.no_grad())
        {
            foreach (var (key, tensor) in state)
            {
                if (!folder.Contains(key))
                    continue;
                // CopyInto keeps its own temporaries in a dispose scope: one tensor's worth at a time.
                folder.CopyInto(key, tensor);
                loaded.Add(key);
            }
        }
        return new CheckpointLoadResult(loaded.AsReadOnly(), Array.AsReadOnly(missing), Array.AsReadOnly(unexpected));
    }

    /// <summary>
    /// Gives a module built on the meta device (<see cref="Layers.ConstructionDevice"/>) its weights: each parameter
    /// becomes the checkpoint's tensor, copied once from the mapped file into a new tensor of the parameter's dtype on
    /// <paramref name="device"/> (CPU when null). Nothing is initialised only to be overwritten, and memory grows one
    /// tensor at a time to the model's size.
    /// </summary>
    /// <param name="module">A module whose parameters are on the meta device; they are replaced.</param>
    /// <param name="folder">The checkpoint.</param>
    /// <param name="device">Where the parameters go; CPU when null.</param>
    /// <param name="strict">As in <see cref="LoadInto(torch.nn.Module, CheckpointFolder, bool, IReadOnlyCollection{string})"/>.
    /// Parameters the checkpoint lacks (only when false) get <see cref="WeightInitializer"/>'s values, as Hugging Face's
    /// <c>from_pretrained</c> gives missing weights <c>_init_weights</c>' values.</param>
    /// <param name="ignoredKeys">Checkpoint keys the module deliberately has no parameter for.</param>
    /// <exception cref="CheckpointMismatchException">Keys or shapes do not match; thrown before anything is read.</exception>
    /// <exception cref="InvalidOperationException">The module has a buffer on the meta device (a buffer is not materialised).</exception>
    public static CheckpointLoadResult Materialize(torch.nn.Module module, CheckpointFolder folder, torch.Device? device = null,
        bool strict = true, IReadOnlyCollection<string>? ignoredKeys = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(folder);
        var (missing, unexpected) = Check(module.state_dict(), folder, strict, ignoredKeys);
        var metaBuffer = module.named_buffers().FirstOrDefault(b => b.buffer.device_type == DeviceType.META).name;
        if (metaBuffer is not null)
            throw new InvalidOperationException($"The buffer '{metaBuffer}' is on the meta device; only parameters are materialised from a checkpoint.");

        var loaded = new List<string>();
        var generator = new torch.Generator(0);
        Layers.ParameterMaterializer.Materialize(module, (name, meta) =>
        {
            if (!folder.Contains(name))
            {
                var initial = WeightInitializer.InitialValue(name, meta.shape, meta.dtype, WeightInitializer.DefaultStd, generator);
                return device is null ? initial : initial.to(device);
            }
            loaded.Add(name);
            return folder.Read(name, meta.dtype, device);
        });
        return new CheckpointLoadResult(loaded.AsReadOnly(), Array.AsReadOnly(missing), Array.AsReadOnly(unexpected));
    }

    /// <summary>Opens the checkpoint in <paramref name="directory"/> and loads it; see the other overload.</summary>
    public static CheckpointLoadResult LoadInto(torch.nn.Module module, string directory, bool strict = true)
    {
        using var folder = CheckpointFolder.Open(directory);
        return LoadInto(module, folder, strict);
    }

    /// <summary>
    /// The keys of <paramref name="state"/> the checkpoint lacks and the checkpoint keys the module lacks, both sorted;
    /// throws when shapes differ or, with <paramref name="strict"/>, when either list is not empty.
    /// </summary>
    private static (string[] Missing, string[] Unexpected) Check(Dictionary<string, torch.Tensor> state, CheckpointFolder folder, bool strict,
        IReadOnlyCollection<string>? ignoredKeys)
    {
        var missing = state.Keys.Where(k => !folder.Contains(k)).Order(StringComparer.Ordinal).ToArray();
        var unexpected = folder.Names.Where(k => !state.ContainsKey(k) && !(ignoredKeys?.Contains(k) ?? false))
            .Order(StringComparer.Ordinal).ToArray();
        var shapes = new List<string>();
        foreach (var (key, tensor) in state)
        {
            if (!folder.Contains(key))
                continue;
            var info = folder.GetInfo(key);
            if (!tensor.shape.AsSpan().SequenceEqual(info.ShapeArray()))
                shapes.Add($"{key}: checkpoint {info.ShapeText} vs module {SafetensorsTensorInfo.FormatShape(tensor.shape)}");
        }
        if (shapes.Count > 0 || (strict && (missing.Length > 0 || unexpected.Length > 0)))
            throw new CheckpointMismatchException(folder.Directory, missing, unexpected, shapes);
        return (missing, unexpected);
    }

    /// <summary>Saves <paramref name="module"/>'s state dict, in its order, with <see cref="CheckpointWriter.Save"/>.</summary>
    /// <param name="module">The module.</param>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="maxShardBytes">The shard size limit.</param>
    /// <param name="dtype">The dtype floating-point entries are stored in; null keeps each one's own.</param>
    public static CheckpointSaveResult Save(
        torch.nn.Module module,
        string directory,
        long maxShardBytes = CheckpointWriter.DefaultMaxShardBytes,
        torch.ScalarType? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var scope = torch.NewDisposeScope();
        var state = module.state_dict();
        return CheckpointWriter.Save(directory, state.Select(kv => (kv.Key, kv.Value)), maxShardBytes, dtype);
    }
}
