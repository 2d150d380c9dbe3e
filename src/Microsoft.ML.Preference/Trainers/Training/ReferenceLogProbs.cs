using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Lora;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>The reference model's summed completion log-probs of a batch: [2B], chosen rows first, no gradient.</summary>
internal interface IReferenceLogProbs : IDisposable
{
    /// <summary>What the reference is, for logs.</summary>
    string Description { get; }

    /// <summary>[2B] float32 on the batch's device.</summary>
    Tensor Compute(PreferenceBatch batch);
}

/// <summary>A separate frozen model (its own folder, or a copy of the initial policy), always in eval mode.</summary>
internal sealed class FrozenModelReference : IReferenceLogProbs
{
    private readonly bool _shareImages;

    public FrozenModelReference(InternVLChatModel model, bool shareImages, string description)
    {
        Model = model;
        _shareImages = shareImages;
        Description = description;
        Model.eval();
        foreach (var p in Model.parameters())
            p.requires_grad = false;
    }

    public InternVLChatModel Model { get; }

    public string Description { get; }

    public Tensor Compute(PreferenceBatch batch)
    {
        using var noGrad = torch.no_grad();
        using var lp = DisposableLogProbs.Of(PolicyForward.LogProbs(Model, batch, _shareImages));
        return lp.Value.Sums.clone();
    }

    /// <summary>TR-DPO's soft update: ref ← α·policy + (1−α)·ref, parameter by parameter.</summary>
    public void SyncFrom(InternVLChatModel policy, double alpha)
    {
        using var noGrad = torch.no_grad();
        var source = policy.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, target) in Model.named_parameters())
            target.mul_(1 - alpha).add_(source[name].to(target.dtype), alpha: alpha);
    }

    public void Dispose() => Model.Dispose();
}

/// <summary>The LoRA policy with its adapters switched off: the base model, at no extra memory.</summary>
internal sealed class AdapterDisabledReference : IReferenceLogProbs
{
    private readonly InternVLChatModel _policy;
    private readonly LoraAdapter _adapter;
    private readonly bool _shareImages;

    public AdapterDisabledReference(InternVLChatModel policy, LoraAdapter adapter, bool shareImages)
    {
        _policy = policy;
        _adapter = adapter;
        _shareImages = shareImages;
    }

    public string Description => "the LoRA base model (adapters disabled)";

    public Tensor Compute(PreferenceBatch batch)
    {
        bool training = _policy.training;
        _policy.eval();
        try
        {
            using var noGrad = torch.no_grad();
            using var disabled = _adapter.Disable();
            using var lp = DisposableLogProbs.Of(PolicyForward.LogProbs(_policy, batch, _shareImages));
            return lp.Value.Sums.clone();
        }
        finally
        {
            _policy.train(training);
        }
    }

    public void Dispose()
    {
    }
}

/// <summary>Log-probs computed once before training, looked up by row: the reference costs nothing per step.</summary>
internal sealed class PrecomputedReference : IReferenceLogProbs
{
    private readonly IReadOnlyDictionary<long, (float Chosen, float Rejected)> _byRow;

    public PrecomputedReference(IReadOnlyDictionary<long, (float Chosen, float Rejected)> byRow, string description)
    {
        _byRow = byRow;
        Description = description;
    }

    public string Description { get; }

    public Tensor Compute(PreferenceBatch batch)
    {
        var values = new float[2 * batch.Pairs];
        for (int i = 0; i < batch.Pairs; i++)
        {
            if (!_byRow.TryGetValue(batch.RowIndices[i], out var v))
                throw new InvalidOperationException($"No precomputed reference log-probs for row {batch.RowIndices[i]}.");
            values[i] = v.Chosen;
            values[batch.Pairs + i] = v.Rejected;
        }
        return torch.tensor(values, device: batch.InputIds.device);
    }

    public void Dispose()
    {
    }
}

/// <summary>Disposes the three tensors of a <see cref="CompletionLogProbs"/>.</summary>
internal readonly struct DisposableLogProbs : IDisposable
{
    public CompletionLogProbs Value { get; }

    private DisposableLogProbs(CompletionLogProbs value) => Value = value;

    public static DisposableLogProbs Of(CompletionLogProbs value) => new(value);

    public void Dispose()
    {
        Value.TokenLogProbs.Dispose();
        Value.Sums.Dispose();
        Value.Counts.Dispose();
    }
}
