namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>What <see cref="ModuleCheckpoint.LoadInto(global::TorchSharp.torch.nn.Module, CheckpointFolder, bool, IReadOnlyCollection{string})"/> or
/// <see cref="ModuleCheckpoint.Materialize"/> did.</summary>
/// <param name="LoadedKeys">State-dict keys copied from the checkpoint, in state-dict order.</param>
/// <param name="MissingKeys">State-dict keys the checkpoint lacks (left as they were by LoadInto, freshly initialised by Materialize), sorted.</param>
/// <param name="UnexpectedKeys">Checkpoint keys the module lacks (ignored), sorted.</param>
internal sealed record CheckpointLoadResult(
    IReadOnlyList<string> LoadedKeys,
    IReadOnlyList<string> MissingKeys,
    IReadOnlyList<string> UnexpectedKeys);
