using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Text.Templates;

namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>
/// Turns data rows into token ids the way InternVL's training code does: the conversation rendered with a
/// <see cref="ChatTemplate"/>, each <c>&lt;image&gt;</c> expanded to <c>&lt;img&gt;</c> + <c>&lt;IMG_CONTEXT&gt;</c> ×
/// (num_image_token · tiles) + <c>&lt;/img&gt;</c>, BOS first when the tokenizer adds one (InternLM2), and labels -100
/// everywhere except on the response and the end-of-turn token closing it (InternVL's <c>preprocess_mpt</c>,
/// <c>preprocess_internlm</c> and <c>preprocess_internvl2_5</c> agree on that). With <see cref="MaxLength"/> rows are
/// truncated without ever cutting an image or template text.
/// </summary>
/// <remarks>
/// <para>Images: a prompt without placeholders gets them prepended to its first user turn (one image:
/// <c>"&lt;image&gt;\n"</c>, as InternVL's datasets do; several: <see cref="ImagePlaceholders.Prefix"/>); otherwise the
/// user turns must hold exactly one placeholder per image, filled in order with the given tile counts.</para>
/// <para>Only the final response is labelled; assistant turns inside a multi-turn prompt are context (TRL's
/// prompt/completion split; InternVL's SFT preprocessing would label them too).</para>
/// <para>Truncation to <see cref="MaxLength"/> follows a rule of this package's own: first the response keeps its
/// start (its closing tokens go first, so a cut response does not end its turn and the model is not taught to stop
/// mid-answer; labels stay on what is left), down to one token; then the prompt loses user text from its start
/// (oldest turns first in a multi-turn prompt); image tokens, the system message, the template's text and the text
/// this builder inserts around images are never cut. If that is not enough, <see cref="PromptTooLongException"/>
/// names the row. This is not TRL's rule: TRL 0.27.2's DPO trainer (trl/trainer/dpo_trainer.py) cuts the prompt
/// to <c>max_prompt_length</c> keeping its end, then the whole sequence by <c>truncation_mode</c> (keep_end by
/// default), which may cut image tokens; InternVL's MPO scripts set max_seq_length and never cut images.
/// A pair whose responses become identical after the cut is refused by the trainer (a bad row).</para>
/// </remarks>
internal sealed class PromptBuilder
{
    /// <summary>The label of ids the loss ignores (PyTorch's <c>ignore_index</c>, InternVL's <c>IGNORE_TOKEN_ID</c>).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>Creates a builder.</summary>
    /// <param name="template">The conversation template (<see cref="ChatTemplates.Get"/>).</param>
    /// <param name="encoder">The tokenizer side (<see cref="PromptEncoder.FromTokenizer"/>).</param>
    /// <param name="numImageToken">Visual tokens per tile (<see cref="InternVLConfig.NumImageToken"/>: 256 for 448-pixel tiles).</param>
    public PromptBuilder(ChatTemplate template, PromptEncoder encoder, int numImageToken)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numImageToken);
        Template = template;
        Encoder = encoder;
        NumImageToken = numImageToken;
    }

    /// <summary>A builder for a model folder: its config's template and num_image_token, its tokenizer.</summary>
    /// <param name="config">The model's config.json.</param>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="padId">The padding id when the tokenizer names none.</param>
    /// <exception cref="KeyNotFoundException">The config names a template this package does not have.</exception>
    public static PromptBuilder ForModel(InternVLConfig config, ModelTokenizer tokenizer, int? padId = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new PromptBuilder(ChatTemplates.Get(config.Template), PromptEncoder.FromTokenizer(tokenizer, padId), config.NumImageToken);
    }

    /// <summary>The conversation template.</summary>
    public ChatTemplate Template { get; }

    /// <summary>The tokenizer side.</summary>
    public PromptEncoder Encoder { get; }

    /// <summary>Visual tokens per tile.</summary>
    public int NumImageToken { get; }

    /// <summary>The system message of rows that bring none; null takes the template's default.</summary>
    public string? SystemMessage { get; init; }

    /// <summary>The longest a row may be (ids, BOS included); null for no limit.</summary>
    public int? MaxLength
    {
        get;
        init
        {
            if (value is int v)
                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(v, nameof(MaxLength));
            field = value;
        }
    }

    /// <summary>An inference prompt for one question: the ids up to and including the generation prompt.</summary>
    /// <param name="question">The user text, with or without <c>&lt;image&gt;</c> placeholders.</param>
    /// <param name="tilesPerImage">Tiles of each image, in order (InternVL's <c>num_patches_list</c>); null or empty for none.</param>
    /// <param name="rowIndex">The row, for messages.</param>
    public TokenizedSequence BuildPrompt(string question, IReadOnlyList<int>? tilesPerImage = null, long? rowIndex = null) =>
        BuildPrompt([ChatMessage.User(question)], tilesPerImage, rowIndex);

    /// <summary>An inference prompt: the conversation, ending with a user turn, then the generation prompt.</summary>
    /// <param name="prompt">An optional system message, then user/assistant turns ending with a user turn.</param>
    /// <param name="tilesPerImage">Tiles of each image, in order; null or empty for none.</param>
    /// <param name="rowIndex">The row, for messages.</param>
    /// <exception cref="PromptBuildException">Placeholders and images disagree, or the turns are out of order.</exception>
    /// <exception cref="PromptTooLongException">Images and template text alone exceed <see cref="MaxLength"/>.</exception>
    public TokenizedSequence BuildPrompt(IReadOnlyList<ChatMessage> prompt, IReadOnlyList<int>? tilesPerImage = null, long? rowIndex = null)
    {
        var encoded = EncodePrompt(prompt, tilesPerImage, training: false, rowIndex);
        return SequenceAssembler.Assemble(encoded.Segments, [], Encoder.BosId, MaxLength, rowIndex)[0];
    }

    /// <summary>A training row for one question and its response.</summary>
    /// <param name="question">The user text.</param>
    /// <param name="response">The assistant's answer (labelled).</param>
    /// <param name="tilesPerImage">Tiles of each image, in order; null or empty for none.</param>
    /// <param name="rowIndex">The row, for messages.</param>
    public TokenizedSequence BuildTraining(string question, string response, IReadOnlyList<int>? tilesPerImage = null, long? rowIndex = null) =>
        BuildTraining([ChatMessage.User(question)], response, tilesPerImage, rowIndex);

    /// <summary>A training row: the prompt turns, then the response, labelled with its end-of-turn token.</summary>
    /// <param name="prompt">An optional system message, then user/assistant turns ending with a user turn.</param>
    /// <param name="response">The assistant's answer.</param>
    /// <param name="tilesPerImage">Tiles of each image, in order; null or empty for none.</param>
    /// <param name="rowIndex">The row, for messages.</param>
    /// <exception cref="PromptBuildException">Placeholders and images disagree, the turns are out of order, or the response is empty.</exception>
    /// <exception cref="PromptTooLongException">Images and template text alone leave no room in <see cref="MaxLength"/>.</exception>
    public TokenizedSequence BuildTraining(IReadOnlyList<ChatMessage> prompt, string response, IReadOnlyList<int>? tilesPerImage = null, long? rowIndex = null)
    {
        var encoded = EncodePrompt(prompt, tilesPerImage, training: true, rowIndex);
        return SequenceAssembler.Assemble(encoded.Segments, [EncodeResponse(encoded.Run.Fork(), response, "response", rowIndex)], Encoder.BosId, MaxLength, rowIndex)[0];
    }

    /// <summary>A preference row for one question.</summary>
    /// <param name="question">The user text.</param>
    /// <param name="chosen">The preferred response.</param>
    /// <param name="rejected">The other response.</param>
    /// <param name="tilesPerImage">Tiles of each image, in order; null or empty for none.</param>
    /// <param name="rowIndex">The row, for messages.</param>
    public PreferencePair BuildPair(string question, string chosen, string rejected, IReadOnlyList<int>? tilesPerImage = null, long? rowIndex = null) =>
        BuildPair([ChatMessage.User(question)], chosen, rejected, tilesPerImage, rowIndex);

    /// <summary>
    /// A preference row: chosen and rejected responses after one prompt. The prompt is encoded once, so both rows
    /// start with identical ids, truncated alike (by what the longer response needs).
    /// </summary>
    /// <param name="prompt">An optional system message, then user/assistant turns ending with a user turn.</param>
    /// <param name="chosen">The preferred response.</param>
    /// <param name="rejected">The other response.</param>
    /// <param name="tilesPerImage">Tiles of each image, in order; null or empty for none.</param>
    /// <param name="rowIndex">The row, for messages.</param>
    /// <exception cref="PromptBuildException">Placeholders and images disagree, the turns are out of order, or a response is empty.</exception>
    /// <exception cref="PromptTooLongException">Images and template text alone leave no room in <see cref="MaxLength"/>.</exception>
    public PreferencePair BuildPair(IReadOnlyList<ChatMessage> prompt, string chosen, string rejected, IReadOnlyList<int>? tilesPerImage = null, long? rowIndex = null)
    {
        var encoded = EncodePrompt(prompt, tilesPerImage, training: true, rowIndex);
        var rows = SequenceAssembler.Assemble(encoded.Segments,
            [EncodeResponse(encoded.Run.Fork(), chosen, "chosen response", rowIndex), EncodeResponse(encoded.Run.Fork(), rejected, "rejected response", rowIndex)],
            Encoder.BosId, MaxLength, rowIndex);
        return new PreferencePair(rows[0], rows[1], rows[0].PromptLength);
    }

    /// <summary>Pads pairs into one [2B, T] batch (chosen rows, then rejected rows) with <see cref="PromptEncoder.PadId"/>.</summary>
    public PaddedBatch Collate(IReadOnlyList<PreferencePair> pairs) => PaddedBatch.FromPairs(pairs, Encoder.PadId);

    /// <summary>Pads rows into one batch with <see cref="PromptEncoder.PadId"/> (left padding for generation).</summary>
    public PaddedBatch Collate(IReadOnlyList<TokenizedSequence> rows, PaddingSide side = PaddingSide.Right) =>
        PaddedBatch.Create(rows, Encoder.PadId, side);

    private (List<EncodedSegment> Segments, RunEncoder Run) EncodePrompt(IReadOnlyList<ChatMessage> prompt, IReadOnlyList<int>? tiles, bool training, long? row)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        tiles ??= [];
        for (int i = 0; i < tiles.Count; i++)
            if (tiles[i] < 1)
                throw new ArgumentOutOfRangeException("tilesPerImage", tiles[i], $"{PromptBuildException.RowName(row)}: image {i} has {tiles[i]} tiles; every image has at least one.");
        if (tiles.Count > 0 && (Encoder.ImageStartId is null || Encoder.ImageEndId is null || Encoder.ImageContextId is null))
            throw new InvalidOperationException(
                $"The tokenizer has no {SpecialTokenIds.ImageStartToken}, {SpecialTokenIds.ImageEndToken} or {SpecialTokenIds.ImageContextToken} id, so prompts cannot " +
                "hold images. InternVL checkpoints list them in added_tokens.json.");

        var run = new RunEncoder(Encoder);
        var encoded = new List<EncodedSegment>();
        foreach (var segment in PromptSegmenter.Segments(Template, SystemMessage, prompt, tiles.Count, training, row))
        {
            int[] ids = run.Append(segment.Text);
            if (segment.Kind == SegmentKind.Image)
                ids = ExpandImage(ids, tiles[segment.ImageIndex], row);
            if (ids.Length > 0)
                encoded.Add(new EncodedSegment(segment.Kind, ids, segment.ImageIndex));
        }
        return (encoded, run);
    }

    private int[] ExpandImage(int[] markerIds, int tiles, long? row)
    {
        int start = Encoder.ImageStartId!.Value, end = Encoder.ImageEndId!.Value, context = Encoder.ImageContextId!.Value;
        if (markerIds is not [var s, var e] || s != start || e != end)
            throw new PromptBuildException(
                $"{PromptBuildException.RowName(row)}: the tokenizer encodes \"{PromptSegmenter.ImageMarkers}\" as [{string.Join(", ", markerIds)}], " +
                $"not as its image marker ids [{start}, {end}].", row);
        long count = (long)NumImageToken * tiles;
        if (count > Array.MaxLength - 2)
            throw new PromptBuildException($"{PromptBuildException.RowName(row)}: {tiles} tiles × {NumImageToken} tokens is too many image tokens.", row);
        var ids = new int[count + 2];
        ids[0] = start;
        Array.Fill(ids, context, 1, (int)count);
        ids[^1] = end;
        return ids;
    }

    private List<EncodedSegment> EncodeResponse(RunEncoder run, string response, string what, long? row)
    {
        ArgumentNullException.ThrowIfNull(response, what);
        string text = Template.StripsTrainingMessages ? PromptSegmenter.TrimPython(PromptSegmenter.TrimPython(response, start: true), start: false) : response;
        if (text.Length == 0)
            throw new PromptBuildException($"{PromptBuildException.RowName(row)}: the {what} is empty; there would be nothing to learn from.", row);
        var segments = new List<EncodedSegment>();
        foreach (var (kind, piece) in new[]
                 {
                     (SegmentKind.Response, text),
                     (SegmentKind.EndOfTurn, Template.SeparatorPrefix + Template.EndOfTurn),
                     (SegmentKind.TurnSuffix, Template.SeparatorSuffix),
                 })
        {
            int[] ids = run.Append(piece);
            if (ids.Length > 0)
                segments.Add(new EncodedSegment(kind, ids));
        }
        return segments;
    }

}
