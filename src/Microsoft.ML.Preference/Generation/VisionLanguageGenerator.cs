using System.Text;
using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Layers;
using Microsoft.ML.Preference.Text;

namespace Microsoft.ML.Preference.Generation;

/// <summary>
/// Batched autoregressive decoding for an <see cref="InternVLChatModel"/>: prompts are left-padded, image
/// features are computed once in the prefill, and each step feeds one token per row through the KV cache.
/// Rows stop on a stop token, a stop string or the length limit; finished rows only carry padding.
/// </summary>
public sealed class VisionLanguageGenerator
{
    private readonly InternVLChatModel _model;
    private readonly ModelTokenizer? _tokenizer;
    private readonly IReadOnlyCollection<int> _stopIds;
    private readonly long _padId;

    /// <summary>
    /// Creates a generator. <paramref name="stopTokenIds"/> are the model's own end markers (end-of-sequence and the
    /// template separator, e.g. &lt;|im_end|&gt;); <paramref name="padId"/> fills the left of shorter prompts and the
    /// tail of finished rows. Without a <paramref name="tokenizer"/> results carry ids only and stop strings cannot apply.
    /// </summary>
    public VisionLanguageGenerator(InternVLChatModel model, ModelTokenizer? tokenizer, IReadOnlyCollection<int> stopTokenIds, long padId)
    {
        _model = model;
        _tokenizer = tokenizer;
        _stopIds = stopTokenIds;
        _padId = padId;
        // A response must never contain image placeholders: re-tokenised, they would claim image features that do
        // not exist (a small or early model does emit them). Hugging Face's suppress_tokens, for these ids always.
        var suppressed = new List<long> { model.ImageContextTokenId };
        foreach (var token in new[] { SpecialTokenIds.ImageStartToken, SpecialTokenIds.ImageEndToken })
            if (tokenizer?.TokenToId(token) is int id)
                suppressed.Add(id);
        _suppressed = suppressed.Where(id => id >= 0 && id < model.Config.Language.VocabSize).Distinct().ToArray();
    }

    private readonly long[] _suppressed;

    /// <summary>Continues every request; <paramref name="onToken"/> sees each token as it is chosen.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked every step).</exception>
    public IReadOnlyList<GenerationResult> Generate(
        IReadOnlyList<GenerationRequest> requests, GenerationOptions options,
        Action<GeneratedToken>? onToken = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (requests.Count == 0)
            return [];
        if (options.StopStrings.Count > 0 && _tokenizer is null)
            throw new ArgumentException("GenerationOptions.StopStrings need a tokenizer to decode the text.");
        var device = _model.parameters().First().device;
        foreach (var (request, index) in requests.Select((r, i) => (r, i)))
            if (request.Samples < 1)
                throw new ArgumentException($"Request {index} asks for {request.Samples} samples; at least 1.", nameof(requests));
        // Row r of the results continues prompt promptOfRow[r]: each request's samples in turn.
        var promptOfRow = requests.SelectMany((r, i) => Enumerable.Repeat((long)i, r.Samples)).ToArray();
        int rows = promptOfRow.Length;
        var stopIds = new HashSet<int>(_stopIds.Concat(options.StopTokenIds));
        var states = promptOfRow.Select(_ => new RowState()).ToArray();

        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (ids, mask) = LeftPad(requests, device);
        var positions = mask.cumsum(-1).Plus(HeldScalars.MinusOne).clamp_min(HeldScalars.Zero);
        long promptLength = ids.shape[1];
        long capacity = promptLength + options.MaxNewTokens;
        bool expand = rows != requests.Count;
        // Each distinct prompt is prefilled once; with several samples its cache row is then copied to every sample's row.
        var cache = _model.LanguageModel.CreateCache(requests.Count, expand ? promptLength : capacity, device);
        try
        {
            using var sampler = requests.Any(r => r.Seed is not null)
                ? new TokenSampler(options, device, requests.Select(r => (r.Samples, r.Seed ?? options.Seed)).ToList())
                : new TokenSampler(options, device);

            var tiles = requests.Where(r => r.Tiles is not null && r.Tiles.shape[0] > 0).Select(r => r.Tiles!.to(device)).ToList();
            var pixels = tiles.Count == 0 ? null : torch.cat(tiles);
            var embeds = _model.InputEmbeddings(ids, _model.VisionTokens(pixels, null, device));
            var logits = LastLogits(embeds, mask, positions, cache);
            var lastPosition = positions.narrow(1, promptLength - 1, 1);
            if (expand)
            {
                var rowIndex = torch.tensor(promptOfRow, device: device);
                var prefilled = cache;
                cache = prefilled.ExpandRows(rowIndex, capacity);
                prefilled.Dispose();
                (logits, mask, lastPosition) = (logits.index_select(0, rowIndex), mask.index_select(0, rowIndex), lastPosition.index_select(0, rowIndex));
            }
            Decode(rows, logits, mask, lastPosition, cache, sampler, states, stopIds, options, onToken, cancellationToken);
        }
        finally
        {
            cache.Dispose();
        }
        return states.Select(s => new GenerationResult(s.Ids, s.Text, s.Reason ?? StopReason.Length)).ToList();
    }

    private void Decode(int rows, Tensor logits, Tensor mask, Tensor lastPosition, KvCache cache, TokenSampler sampler, RowState[] states,
        HashSet<int> stopIds, GenerationOptions options, Action<GeneratedToken>? onToken, CancellationToken cancellationToken)
    {
        var device = logits.device;
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = torch.NewDisposeScope();
            var next = sampler.Next(logits).to(ScalarType.Int64).cpu().data<long>().ToArray();
            for (int r = 0; r < rows; r++)
            {
                if (states[r].Reason is not null)
                {
                    next[r] = _padId;
                    continue;
                }
                Accept(r, (int)next[r], states[r], stopIds, options, onToken);
            }
            if (states.All(s => s.Reason is not null) || step == options.MaxNewTokens - 1)
                break;

            var nextIds = torch.tensor(next, device: device).unsqueeze(1);
            var newMask = torch.cat([mask, torch.ones(rows, 1, dtype: mask.dtype, device: device)], 1);
            var newPosition = lastPosition.Plus(HeldScalars.One);
            var newLogits = LastLogits(_model.LanguageModel.EmbedTokens(nextIds), newMask, newPosition, cache);
            // The previous step's tensors are done with; keep only the new ones alive past this step.
            mask.Dispose();
            lastPosition.Dispose();
            logits.Dispose();
            (mask, lastPosition, logits) = (newMask.MoveToOuterDisposeScope(), newPosition.MoveToOuterDisposeScope(), newLogits.MoveToOuterDisposeScope());
        }
    }

    private Tensor LastLogits(Tensor embeds, Tensor mask, Tensor positions, KvCache cache)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = _model.LanguageModel.HiddenStates(embeds, mask, positions, cache);
        // Only the last position is needed: the head never sees the prompt's other positions.
        var logits = _model.LanguageModel.OutputLogits(hidden.select(1, hidden.shape[1] - 1)).to(ScalarType.Float32);
        if (_suppressed.Length > 0)
            logits.index_fill_(1, torch.tensor(_suppressed, device: logits.device), float.NegativeInfinity);
        return logits.MoveToOuterDisposeScope();
    }

    private (Tensor Ids, Tensor Mask) LeftPad(IReadOnlyList<GenerationRequest> requests, Device device)
    {
        int length = requests.Max(r => r.PromptIds.Count);
        if (length == 0)
            throw new ArgumentException("Every prompt needs at least one token.");
        var ids = new long[requests.Count * length];
        var mask = new long[requests.Count * length];
        for (int r = 0; r < requests.Count; r++)
        {
            var prompt = requests[r].PromptIds;
            if (prompt.Count == 0)
                throw new ArgumentException($"Prompt {r} is empty.");
            int offset = length - prompt.Count;
            for (int i = 0; i < length; i++)
            {
                bool real = i >= offset;
                ids[r * length + i] = real ? prompt[i - offset] : _padId;
                mask[r * length + i] = real ? 1 : 0;
            }
        }
        return (torch.tensor(ids, [requests.Count, length], device: device), torch.tensor(mask, [requests.Count, length], device: device));
    }

    private void Accept(int row, int token, RowState state, HashSet<int> stopIds, GenerationOptions options, Action<GeneratedToken>? onToken)
    {
        if (stopIds.Contains(token))
        {
            state.Reason = StopReason.StopToken;
            return;
        }
        state.Ids.Add(token);
        string delta = "";
        if (_tokenizer is not null)
        {
            var text = _tokenizer.Decode(state.Ids);
            // Hold back a trailing replacement character: the next token may complete the multi-byte character.
            var stable = text.EndsWith('\uFFFD') ? text[..^1] : text;
            delta = stable.Length >= state.Text.Length && stable.StartsWith(state.Text, StringComparison.Ordinal) ? stable[state.Text.Length..] : "";
            state.Text = stable;
            foreach (var stop in options.StopStrings)
            {
                int at = text.IndexOf(stop, StringComparison.Ordinal);
                if (at >= 0)
                {
                    state.Text = text[..at];
                    state.Reason = StopReason.StopString;
                    delta = "";
                    break;
                }
            }
        }
        onToken?.Invoke(new GeneratedToken(row, token, delta));
    }

    private sealed class RowState
    {
        public List<int> Ids { get; } = new();
        public string Text { get; set; } = "";
        public StopReason? Reason { get; set; }
    }
}
