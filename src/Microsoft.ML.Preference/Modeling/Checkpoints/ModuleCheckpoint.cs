using TorchSharp;

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

    /// <summary>Opens the checkpoint in <paramref name="directory"/> and loads it; see the other overload.</summary>
    public static CheckpointLoadResult LoadInto(torch.nn.Module module, string directory, bool strict = true)
    {
        using var folder = CheckpointFolder.Open(directory);
        return LoadInto(module, folder, strict);
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
