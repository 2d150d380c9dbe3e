using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// The concatenated forward of a preference batch: chosen and rejected rows in one pass. With
/// <c>shareImages</c> each pair's tiles go through the vision tower once and the features are reused for both
/// rows; otherwise the tiles are encoded twice, as TRL and InternVL do (cat([P, P])). Both give the same numbers.
/// </summary>
internal static class PolicyForward
{
    /// <summary>The completion log-probs of the 2B rows.</summary>
    public static CompletionLogProbs LogProbs(InternVLChatModel model, PreferenceBatch batch, bool shareImages)
    {
        var output = Run(model, batch, shareImages);
        output.LogitSums.Dispose();
        return output.LogProbs;
    }

    /// <summary>One position before the first labelled token of any row (0 when a row is labelled from the start).</summary>
    internal static long FirstScoredPosition(Tensor labels)
    {
        using var scope = torch.NewDisposeScope();
        var labelled = labels.ne(Modeling.LogProbs.IgnoreIndex).any(dim: 0);
        var positions = labelled.nonzero();
        long first = positions.shape[0] == 0 ? 1 : positions[0, 0].item<long>();
        return Math.Clamp(first - 1, 0, Math.Max(0, labels.shape[1] - 2));
    }

    /// <summary>
    /// The completion log-probs (TokenLogProbs from <see cref="FirstScoredPosition"/> on) and, per row, the sum of the logits over its completion positions and the whole
    /// vocabulary (detached): TRL's logits/chosen and logits/rejected are those sums over count × V.
    /// </summary>
    /// <remarks>
    /// With <paramref name="chosenOnly"/> only the B chosen rows go through the model (cut to their own longest
    /// length): what a loss made of <c>sft</c> terms alone needs, at about half the cost.
    /// </remarks>
    public static (CompletionLogProbs LogProbs, Tensor LogitSums) Run(InternVLChatModel model, PreferenceBatch batch, bool shareImages,
        bool chosenOnly = false)
    {
        using var scope = torch.NewDisposeScope();
        var device = batch.InputIds.device;
        Tensor inputIds = batch.InputIds, mask = batch.AttentionMask, allLabels = batch.Labels;
        Tensor vision;
        if (chosenOnly)
        {
            // Right-padded rows: the chosen half ends where its longest row does.
            long b = batch.Pairs;
            long length = Math.Max(2, mask.narrow(0, 0, b).sum(1).max().item<long>());
            inputIds = inputIds.narrow(0, 0, b).narrow(1, 0, length);
            mask = mask.narrow(0, 0, b).narrow(1, 0, length);
            allLabels = allLabels.narrow(0, 0, b).narrow(1, 0, length);
            vision = model.VisionTokens(batch.PairTiles, null, device);
        }
        else if (batch.PairTiles is null)
            vision = model.VisionTokens(null, null, device);
        else if (shareImages)
        {
            var once = model.VisionTokens(batch.PairTiles, null, device);
            vision = torch.cat([once, once]);
        }
        else
            vision = model.VisionTokens(torch.cat([batch.PairTiles, batch.PairTiles]), null, device);
        StepProfile.Lap("forward: vision tower");
        StepProfile.Count("decoder positions (rows x padded length)", inputIds.numel());
        var embeds = model.InputEmbeddings(inputIds, vision);
        var hidden = model.LanguageModel.HiddenStates(embeds, mask, exactPaddingRows: false);
        StepProfile.Lap("forward: embeddings and decoder");
        // Only positions that predict a labelled token need logits: start one before the earliest label of the
        // batch (the prompt, usually most of a multimodal sequence, never reaches the [.., V] head).
        long start = FirstScoredPosition(allLabels);
        var labels = allLabels.narrow(1, start, allLabels.shape[1] - start);
        // In chunks of positions, the head's matmul recomputed in backward: no [B, T, V] float32 tensor is ever held.
        var (lp, logitSums) = Modeling.LogProbs.FromHiddenStates(model.LanguageModel.OutputLogits,
            hidden.narrow(1, start, hidden.shape[1] - start), labels);
        StepProfile.Count("head positions (from the first labelled one)", hidden.shape[0] * (hidden.shape[1] - start));
        return (new CompletionLogProbs(lp.TokenLogProbs.MoveToOuterDisposeScope(), lp.Sums.MoveToOuterDisposeScope(), lp.Counts.MoveToOuterDisposeScope()),
            logitSums.MoveToOuterDisposeScope());
    }
}
