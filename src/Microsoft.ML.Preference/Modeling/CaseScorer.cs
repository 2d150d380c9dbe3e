using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Checkpoints;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>What <see cref="CaseScorer.Score"/> computes for a batch.</summary>
/// <param name="Logits">[B, T, V] float32.</param>
/// <param name="TokenLogProbs">[B, T-1]: log p(input_ids[t+1] | ≤ t) on labelled tokens, 0 elsewhere.</param>
/// <param name="ResponseLogProbs">[B]: the sum over labelled tokens.</param>
internal sealed record ScoredCases(Tensor Logits, Tensor TokenLogProbs, Tensor ResponseLogProbs);

/// <summary>
/// Scores a cases file in the layout of the team's fixtures (pixel_values, image_flags, input_ids,
/// attention_mask, labels): the way a user checks a converted checkpoint against a Python run.
/// </summary>
internal static class CaseScorer
{
    /// <summary>
    /// Runs <paramref name="model"/> on the tensors of <paramref name="cases"/>. Only input_ids is required:
    /// without pixel_values the batch is text-only, without attention_mask nothing is padding, without
    /// image_flags every tile counts, and without labels every non-padding next token is scored.
    /// </summary>
    public static ScoredCases Score(InternVLChatModel model, SafetensorsFile cases)
    {
        if (!cases.Contains("input_ids"))
            throw new InvalidDataException($"{cases.Path}: no 'input_ids' tensor (found: {string.Join(", ", cases.Names.Take(10))}).");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var ids = cases.Read("input_ids", ScalarType.Int64);
        if (ids.dim() != 2)
            throw new InvalidDataException($"{cases.Path}: input_ids must be [B, T], not [{string.Join(", ", ids.shape)}].");
        Tensor? Optional(string name, ScalarType dtype) => cases.Contains(name) ? cases.Read(name, dtype) : null;
        var pixels = Optional("pixel_values", ScalarType.Float32);
        var flags = Optional("image_flags", ScalarType.Int64);
        var mask = Optional("attention_mask", ScalarType.Int64);
        var labels = Optional("labels", ScalarType.Int64) ?? (mask is null ? ids : ids.masked_fill(mask.eq(0), LogProbs.IgnoreIndex));
        if (!labels.shape.SequenceEqual(ids.shape) || (mask is not null && !mask.shape.SequenceEqual(ids.shape)))
            throw new InvalidDataException($"{cases.Path}: labels and attention_mask must have input_ids' shape [{string.Join(", ", ids.shape)}].");

        var logits = model.Forward(pixels, ids, mask, flags);
        var logps = LogProbs.Completion(logits, labels);
        return new ScoredCases(logits.MoveToOuterDisposeScope(), logps.TokenLogProbs.MoveToOuterDisposeScope(), logps.Sums.MoveToOuterDisposeScope());
    }
}
