using Microsoft.ML.Preference.Text.Templates;

namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>
/// Cuts a prompt into <see cref="PromptSegment"/>s: template text, system message, user text, images and the text
/// inserted around prepended images, so that <see cref="PromptBuilder"/> can label and truncate by kind.
/// </summary>
internal static class PromptSegmenter
{
    /// <summary>An image's text while encoding: its two markers, expanded to the context ids afterwards.</summary>
    public const string ImageMarkers = SpecialTokenIds.ImageStartToken + SpecialTokenIds.ImageEndToken;

    // The rendered prompt as segments: ChatTemplate.Render's text exactly, cut where kinds change; also checks
    // the turn order and that placeholders and images agree.
    public static List<PromptSegment> Segments(ChatTemplate template, string? systemMessage, IReadOnlyList<ChatMessage> prompt, int imageCount, bool training, long? row)
    {
        string system;
        IReadOnlyList<ChatMessage> turns;
        try
        {
            (system, turns) = template.Split(prompt, systemMessage);
        }
        catch (ArgumentException ex)
        {
            throw new PromptBuildException($"{PromptBuildException.RowName(row)}: {ex.Message}", row, ex);
        }
        if (turns.Count == 0 || turns[^1].Role != ChatRole.User)
            throw new PromptBuildException($"{PromptBuildException.RowName(row)}: a prompt must end with a user turn (it has {turns.Count} turn(s)).", row);

        int placeholders = turns.Where(t => t.Role == ChatRole.User).Sum(t => ImagePlaceholders.Count(t.Content));
        bool prepend = placeholders == 0 && imageCount > 0;
        if (!prepend && placeholders != imageCount)
            throw new PromptBuildException(
                $"{PromptBuildException.RowName(row)}: its user text has {placeholders} {ImagePlaceholders.Placeholder} placeholder(s) but {imageCount} image(s) were given. " +
                $"Put one {ImagePlaceholders.Placeholder} per image in the user text, in image order, or none to have them prepended.", row);

        var segments = new List<PromptSegment>
        {
            new(SegmentKind.Structure, template.SystemPrefix),
            new(SegmentKind.SystemText, system),
            new(SegmentKind.Structure, template.SystemSuffix + template.Separator),
        };
        int nextImage = 0;
        bool firstUser = true;
        foreach (var turn in turns)
        {
            var pieces = new List<PromptSegment>();
            if (turn.Role == ChatRole.User)
            {
                if (prepend && firstUser)
                    AddPrefix(pieces, imageCount, ref nextImage);
                AddUserText(pieces, turn.Content, ref nextImage);
                firstUser = false;
            }
            else
            {
                pieces.Add(new PromptSegment(SegmentKind.HistoryText, turn.Content));
            }
            if (training && template.StripsTrainingMessages)
                Strip(pieces);
            segments.Add(new PromptSegment(SegmentKind.Structure, template.RoleText(turn.Role)));
            // conversation.py: `if message: ret += role + message + sep else: ret += role`.
            if (pieces.Any(p => p.Text.Length > 0))
            {
                segments.AddRange(pieces.Where(p => p.Text.Length > 0));
                segments.Add(new PromptSegment(SegmentKind.Structure, template.Separator));
            }
        }
        segments.Add(new PromptSegment(SegmentKind.Structure, template.GenerationPrompt));
        return segments;
    }

    private static void AddPrefix(List<PromptSegment> pieces, int imageCount, ref int nextImage)
    {
        for (int i = 0; i < imageCount; i++)
        {
            if (imageCount > 1)
                pieces.Add(new PromptSegment(SegmentKind.Inserted, ImagePlaceholders.ImageLabel(i)));
            pieces.Add(new PromptSegment(SegmentKind.Image, ImageMarkers, nextImage++));
            pieces.Add(new PromptSegment(SegmentKind.Inserted, "\n"));
        }
    }

    private static void AddUserText(List<PromptSegment> pieces, string content, ref int nextImage)
    {
        int from = 0;
        for (int at = content.IndexOf(ImagePlaceholders.Placeholder, StringComparison.Ordinal); at >= 0;
             at = content.IndexOf(ImagePlaceholders.Placeholder, from, StringComparison.Ordinal))
        {
            pieces.Add(new PromptSegment(SegmentKind.UserText, content[from..at]));
            pieces.Add(new PromptSegment(SegmentKind.Image, ImageMarkers, nextImage++));
            from = at + ImagePlaceholders.Placeholder.Length;
        }
        pieces.Add(new PromptSegment(SegmentKind.UserText, content[from..]));
    }

    // Python's str.strip() on the whole message, placeholders included: whitespace goes from the text pieces at
    // either end, never past an image.
    private static void Strip(List<PromptSegment> pieces)
    {
        for (int i = 0; i < pieces.Count && pieces[i].Kind != SegmentKind.Image; i++)
        {
            string t = TrimPython(pieces[i].Text, start: true);
            pieces[i] = pieces[i] with { Text = t };
            if (t.Length > 0)
                break;
        }
        for (int i = pieces.Count - 1; i >= 0 && pieces[i].Kind != SegmentKind.Image; i--)
        {
            string t = TrimPython(pieces[i].Text, start: false);
            pieces[i] = pieces[i] with { Text = t };
            if (t.Length > 0)
                break;
        }
    }

    public static string TrimPython(string text, bool start)
    {
        // str.isspace(): .NET's white space plus the separators U+001C..U+001F.
        static bool Space(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';
        int a = 0, b = text.Length;
        if (start)
            while (a < b && Space(text[a]))
                a++;
        else
            while (b > a && Space(text[b - 1]))
                b--;
        return text[a..b];
    }
}
