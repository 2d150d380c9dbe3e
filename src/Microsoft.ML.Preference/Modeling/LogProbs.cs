using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>
/// Turns a causal LM's logits into the completion log-probs the preference losses read, in the Hugging Face
/// convention: logits at position t score the token at t + 1, and a label of −100 marks a token that is not
/// scored (prompt, image tokens, padding).
/// </summary>
public static class LogProbs
{
    /// <summary>The label value of an unscored token (PyTorch's cross-entropy ignore_index).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// Per-token, summed and counted completion log-probs of <paramref name="labels"/> under <paramref name="logits"/>.
    /// </summary>
    /// <param name="logits">[B, T, V] in any floating dtype; the softmax is taken in float32 (bf16/fp16 logits lose too much in log_softmax).</param>
    /// <param name="labels">[B, T] int64: the token ids to score, <paramref name="ignoreIndex"/> elsewhere.</param>
    /// <param name="ignoreIndex">The label of unscored positions.</param>
    /// <exception cref="ArgumentException">The shapes do not fit or labels are not integers.</exception>
    public static CompletionLogProbs Completion(Tensor logits, Tensor labels, long ignoreIndex = IgnoreIndex)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        if (logits.dim() != 3 || labels.dim() != 2 || logits.shape[0] != labels.shape[0] || logits.shape[1] != labels.shape[1])
            throw new ArgumentException(
                $"Expected logits [B, T, V] and labels [B, T], got [{string.Join(", ", logits.shape)}] and [{string.Join(", ", labels.shape)}].");
        if (labels.shape[1] < 2)
            throw new ArgumentException($"Sequences need at least 2 positions to score a next token, got T = {labels.shape[1]}.", nameof(labels));
        if (labels.is_floating_point() || labels.dtype == ScalarType.Bool)
            throw new ArgumentException($"labels must be integer token ids, not {labels.dtype}.", nameof(labels));

        using var scope = NewDisposeScope();
        long t = labels.shape[1] - 1;
        // HF shift: logits[:, :-1] predict labels[:, 1:].
        var shiftedLogits = logits.narrow(1, 0, t);
        var targets = labels.narrow(1, 1, t).to_type(ScalarType.Int64);
        var mask = targets.ne(ignoreIndex);
        // gather cannot take −100: point ignored positions at token 0, then zero them by the mask.
        var safeTargets = targets.masked_fill(mask.logical_not(), 0);
        // log p = logit[target] − logsumexp(logits): the same number as gathering from log_softmax, without a
        // second [B, T, V] tensor (and its gradient) — TRL's selective_log_softmax does the same.
        var scores = shiftedLogits.to_type(ScalarType.Float32);
        var tokenLogps = scores.gather(-1, safeTargets.unsqueeze(-1)).squeeze(-1) - scores.logsumexp(-1);
        var zeros = torch.zeros_like(tokenLogps);
        var masked = torch.where(mask, tokenLogps, zeros);
        return new CompletionLogProbs(
            masked.MoveToOuterDisposeScope(),
            masked.sum(1).MoveToOuterDisposeScope(),
            mask.sum(1, type: ScalarType.Int64).MoveToOuterDisposeScope());
    }
}
