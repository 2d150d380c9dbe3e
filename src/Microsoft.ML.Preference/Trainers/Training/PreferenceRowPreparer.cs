using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Text.Prompts;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Checks and tokenises preference rows, and tiles their images when a batch needs them. Every failure is a
/// <see cref="BadRowException"/> with the row and a reason, so the trainer can fail or skip by policy.
/// </summary>
internal sealed class PreferenceRowPreparer
{
    private readonly VisionLanguageModel _vlm;
    private readonly RejectedSpan _rejectedSpan;
    private readonly Dictionary<int, bool> _endsStep = [];
    private readonly Lock _tokenizerLock = new();

    public PreferenceRowPreparer(VisionLanguageModel vlm, RejectedSpan rejectedSpan = RejectedSpan.WholeResponse)
    {
        _vlm = vlm;
        _rejectedSpan = rejectedSpan;
    }

    /// <summary>Validates <paramref name="example"/> and tokenises it (images are decoded to size them).</summary>
    public PreparedRow Prepare(PreferenceExample example)
    {
        CheckText(example);
        return Tokenise(example, VisionLanguageModel.DecodeImages(example.Images, example.RowIndex, _vlm.Images));
    }

    /// <summary>
    /// <see cref="Prepare"/> and the row's tiles [tiles, 3, S, S] (null for a text-only row) from one decode of its
    /// images: what a data-loader worker does. Thread-safe; the caller owns the tensor.
    /// </summary>
    public (PreparedRow Row, Tensor? Tiles) PrepareWithTiles(PreferenceExample example)
    {
        CheckText(example);
        var images = VisionLanguageModel.DecodeImages(example.Images, example.RowIndex, _vlm.Images);
        var row = Tokenise(example, images);
        return (row, images.Count == 0 ? null : _vlm.Images.ProcessRow(images, example.MaxDynamicPatch).PixelValues);
    }

    private static void CheckText(PreferenceExample example)
    {
        long row = example.RowIndex;
        if (string.IsNullOrWhiteSpace(example.Prompt))
            throw new BadRowException(row, BadRowReason.EmptyText, "the prompt is empty");
        if (string.IsNullOrWhiteSpace(example.Chosen))
            throw new BadRowException(row, BadRowReason.EmptyText, "the chosen response is empty");
        if (string.IsNullOrWhiteSpace(example.Rejected))
            throw new BadRowException(row, BadRowReason.EmptyText, "the rejected response is empty");
        if (example.Chosen.Trim() == example.Rejected.Trim())
            throw new BadRowException(row, BadRowReason.ChosenEqualsRejected, "chosen and rejected are the same text");
    }

    private PreparedRow Tokenise(PreferenceExample example, IReadOnlyList<Images.RgbImage> images)
    {
        var tiles = images.Select(i => _vlm.Images.Plan(i.SourceWidth, i.SourceHeight, images.Count, example.MaxDynamicPatch).NumTiles).ToArray();
        // Workers prepare rows in parallel; the tokenizer's caches and the step-end table are not made for that, and
        // tokenising is a small part of a row's cost next to its images.
        lock (_tokenizerLock)
        {
            return BuildPair(example, tiles);
        }
    }

    private PreparedRow BuildPair(PreferenceExample example, int[] tiles)
    {
        long row = example.RowIndex;
        try
        {
            var pair = _vlm.Prompts.BuildPair(example.Prompt, example.Chosen, example.Rejected, tiles.Length == 0 ? null : tiles, row);
            // Text that spells an image token (e.g. "<IMG_CONTEXT>") would claim image features the row does not have.
            int expected = tiles.Sum() * _vlm.Prompts.NumImageToken;
            int contextId = _vlm.Prompts.Encoder.ImageContextId ?? (int)_vlm.Model.ImageContextTokenId;
            int chosen = pair.Chosen.InputIds.Count(id => id == contextId), rejected = pair.Rejected.InputIds.Count(id => id == contextId);
            if (chosen != expected || rejected != expected)
                throw new BadRowException(row, BadRowReason.ImagePlaceholderMismatch,
                    $"the text holds image tokens of its own ({Math.Max(chosen, rejected)} <IMG_CONTEXT> for {expected} image tokens)");
            // Truncation keeps each response's start: two responses that differ only after the cut become one sequence,
            // a pair with no preference signal (its DPO margin is 0 by construction), so it is a bad row, not a training row.
            if (pair.Chosen.InputIds.SequenceEqual(pair.Rejected.InputIds))
                throw new BadRowException(row, BadRowReason.IdenticalAfterTruncation, _vlm.Prompts.MaxLength is int max
                    ? $"chosen and rejected differ only after the first {pair.Chosen.InputIds.Count} tokens, which is all MaxLength {max} keeps of them; raise MaxLength or shorten the prompt"
                    : "chosen and rejected encode to the same tokens");
            if (_rejectedSpan == RejectedSpan.FirstDivergentStep)
                pair = FirstDivergentStep.Apply(pair, EndsStep);
            return new PreparedRow(example, tiles, pair);
        }
        catch (PromptTooLongException e)
        {
            throw new BadRowException(row, BadRowReason.TooLong, e.Message, e);
        }
        catch (PromptBuildException e)
        {
            throw new BadRowException(row, BadRowReason.ImagePlaceholderMismatch, e.Message, e);
        }
    }

    /// <summary>Whether a token's text holds a newline, the end of a reasoning step (decoded once per id).</summary>
    private bool EndsStep(int id)
    {
        if (!_endsStep.TryGetValue(id, out bool ends))
            _endsStep[id] = ends = _vlm.Tokenizer.Decode([id]).Contains('\n');
        return ends;
    }

    /// <summary>The tiles of a prepared row [tiles, 3, S, S], or null for a text-only row.</summary>
    public Tensor? Tiles(PreparedRow row)
    {
        if (row.Example.Images.Count == 0)
            return null;
        var images = VisionLanguageModel.DecodeImages(row.Example.Images, row.RowIndex, _vlm.Images);
        var tiles = _vlm.Images.ProcessRow(images, row.Example.MaxDynamicPatch);
        if (!tiles.TilesPerImage.SequenceEqual(row.TilesPerImage))
        {
            tiles.Dispose();
            throw new BadRowException(row.RowIndex, BadRowReason.CorruptImage, "an image changed size since the data was validated");
        }
        return tiles.PixelValues; // the caller owns it (ImageTiles holds nothing else)
    }
}
