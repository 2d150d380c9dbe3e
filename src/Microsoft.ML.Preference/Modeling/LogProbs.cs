using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>
/// Turns a causal LM's logits into the completion log-probs the preference losses read, in the Hugging Face
/// convention: logits at position t score the token at t + 1, and a label of −100 marks a token that is not
/// scored (prompt, image tokens, padding).
/// </summary>
internal static class LogProbs
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

    /// <summary>Positions per chunk of <see cref="FromHiddenStates"/>: [B, 256, V] float32 is 310 MB at B = 2, V = 151k.</summary>
    public const int DefaultChunkTokens = 256;

    /// <summary>
    /// The same log-probs as <see cref="Completion"/> over <paramref name="head"/>(<paramref name="hidden"/>), without
    /// ever holding [B, T, V] logits: the positions go through the head in chunks of <paramref name="chunkTokens"/>,
    /// and under autograd each chunk is a <see cref="GradientCheckpoint"/> that keeps only its [B, chunk, D] input and
    /// runs the head's matmul again in backward. Memory then grows with tokens × hidden, not tokens × vocabulary.
    /// Also returns Σ logits over the vocabulary and the completion tokens per row (TRL's logged logits mean, no gradient).
    /// </summary>
    /// <param name="head">The output head (<see cref="Language.CausalLanguageModel.OutputLogits"/>), hooks included.</param>
    /// <param name="hidden">[B, T, D] final-norm hidden states.</param>
    /// <param name="labels">[B, T] int64, <paramref name="ignoreIndex"/> where not scored.</param>
    /// <param name="chunkTokens">Positions per chunk (at least 1).</param>
    /// <param name="ignoreIndex">The label of unscored positions.</param>
    public static (CompletionLogProbs LogProbs, Tensor LogitSums) FromHiddenStates(Func<Tensor, Tensor> head, Tensor hidden, Tensor labels,
        int chunkTokens = DefaultChunkTokens, long ignoreIndex = IgnoreIndex)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        if (hidden.dim() != 3 || labels.dim() != 2 || hidden.shape[0] != labels.shape[0] || hidden.shape[1] != labels.shape[1])
            throw new ArgumentException(
                $"Expected hidden states [B, T, D] and labels [B, T], got [{string.Join(", ", hidden.shape)}] and [{string.Join(", ", labels.shape)}].");
        if (labels.shape[1] < 2)
            throw new ArgumentException($"Sequences need at least 2 positions to score a next token, got T = {labels.shape[1]}.", nameof(labels));

        using var scope = NewDisposeScope();
        long t = labels.shape[1] - 1;
        var targets = labels.narrow(1, 1, t).to_type(ScalarType.Int64);
        bool recompute = torch.is_grad_enabled() && hidden.requires_grad;
        Tensor Chunk(Tensor h, Tensor[] context)
        {
            // The chunk's [B, n, V] logits are freed as soon as they are scored: left to this method's dispose scope,
            // every chunk's would live until the last one is done, a tokens × vocabulary term after all (bench scale
            // measured +1.3 GiB per 1k tokens per row in float32 at V = 151,655 before this).
            using var logits = head(h);
            return ScoreChunk(logits, context[0], ignoreIndex);
        }
        var pieces = new List<Tensor>();
        for (long s = 0; s < t; s += chunkTokens)
        {
            long n = Math.Min(chunkTokens, t - s);
            var h = hidden.narrow(1, s, n);
            var tgt = targets.narrow(1, s, n);
            pieces.Add(recompute ? GradientCheckpoint.Run(Chunk, h, tgt) : Chunk(h, [tgt]));
        }
        var scored = pieces.Count == 1 ? pieces[0] : torch.cat(pieces, 1);
        var tokenLogps = scored.select(-1, 0);
        return (new CompletionLogProbs(
                tokenLogps.MoveToOuterDisposeScope(),
                tokenLogps.sum(1).MoveToOuterDisposeScope(),
                targets.ne(ignoreIndex).sum(1, type: ScalarType.Int64).MoveToOuterDisposeScope()),
            scored.select(-1, 1).detach().sum(1).MoveToOuterDisposeScope());
    }

    // [B, n, 2]: the masked token log-prob (with gradient) and the detached Σ logits of scored positions.
    private static Tensor ScoreChunk(Tensor logits, Tensor targets, long ignoreIndex)
    {
        using var scope = NewDisposeScope();
        var scores = logits.to_type(ScalarType.Float32);
        var mask = targets.ne(ignoreIndex);
        var safeTargets = targets.masked_fill(mask.logical_not(), 0);
        var tokenLogps = scores.gather(-1, safeTargets.unsqueeze(-1)).squeeze(-1) - scores.logsumexp(-1);
        var masked = torch.where(mask, tokenLogps, torch.zeros_like(tokenLogps));
        var logitSums = (scores.detach().sum(-1) * mask.to_type(ScalarType.Float32));
        return torch.stack([masked, logitSums], -1).MoveToOuterDisposeScope();
    }
}
