namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>What a piece of a rendered conversation is, which decides its label and whether truncation may cut it.</summary>
internal enum SegmentKind
{
    /// <summary>Template text: role headers, separators, the system turn's frame. Never cut.</summary>
    Structure,

    /// <summary>The system message. Never cut (it is the model's standing instruction).</summary>
    SystemText,

    /// <summary>Text this package adds around images ("\n" after a prepended placeholder, "Image-1: "). Never cut.</summary>
    Inserted,

    /// <summary>Text the user wrote. Cut (from its start) when a prompt is too long.</summary>
    UserText,

    /// <summary>An earlier assistant turn of a multi-turn prompt. Cut like user text.</summary>
    HistoryText,

    /// <summary>An image: <c>&lt;img&gt;</c> + <c>&lt;IMG_CONTEXT&gt;</c>… + <c>&lt;/img&gt;</c>. Never cut.</summary>
    Image,

    /// <summary>The response being trained on. Labelled; shortened first (its start is kept).</summary>
    Response,

    /// <summary>The token ending the response's turn (<c>&lt;|im_end|&gt;</c>). Labelled.</summary>
    EndOfTurn,

    /// <summary>What the separator has after the end-of-turn token (internvl2_5's "\n"). Not labelled.</summary>
    TurnSuffix,
}

/// <summary>A piece of text of one kind; an image's text is its markers, "&lt;img&gt;&lt;/img&gt;".</summary>
internal readonly record struct PromptSegment(SegmentKind Kind, string Text, int ImageIndex = -1)
{
    public bool Cuttable => Kind is SegmentKind.UserText or SegmentKind.HistoryText;
}

/// <summary>A segment's ids (an image's with its context tokens).</summary>
internal sealed record EncodedSegment(SegmentKind Kind, int[] Ids, int ImageIndex = -1)
{
    public bool Cuttable => Kind is SegmentKind.UserText or SegmentKind.HistoryText;
}
