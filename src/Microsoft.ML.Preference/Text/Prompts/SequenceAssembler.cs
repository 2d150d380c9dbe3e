using System.Globalization;

namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>Truncates encoded segments to a maximum length and lays them out as ids and labels.</summary>
internal static class SequenceAssembler
{
    /// <summary>
    /// Applies the maximum length (rules in <see cref="PromptBuilder"/>'s remarks) and lays out ids and labels: one
    /// sequence per response, or the bare prompt when there is none.
    /// </summary>
    public static TokenizedSequence[] Assemble(List<EncodedSegment> prompt, IReadOnlyList<List<EncodedSegment>> responses, int? bosId, int? maxLength, long? row)
    {
        int bos = bosId is null ? 0 : 1;
        int promptLength = bos + prompt.Sum(s => s.Ids.Length);
        int cuttable = prompt.Where(s => s.Cuttable).Sum(s => s.Ids.Length);
        int imageIds = prompt.Where(s => s.Kind == SegmentKind.Image).Sum(s => s.Ids.Length);
        int contextIds = prompt.Where(s => s.Kind == SegmentKind.Image).Sum(s => s.Ids.Length - 2);

        int promptCut = 0;
        if (maxLength is int max)
        {
            // A response that does not fit is cut down to one token before the prompt gives up anything.
            int need = responses.Count == 0
                ? promptLength - max
                : responses.Max(r => promptLength + r.Sum(s => s.Ids.Length) <= max ? 0 : promptLength + 1 - max);
            if (need > cuttable)
            {
                int minimum = promptLength - cuttable + (responses.Count == 0 ? 0 : 1);
                var inv = CultureInfo.InvariantCulture;
                string withResponse = responses.Count == 0 ? "" : " with one response token";
                string message = string.Create(inv, $"{PromptBuildException.RowName(row)} cannot fit in {max} tokens: its images take {imageIds} tokens ") +
                    string.Create(inv, $"({contextIds} {SpecialTokenIds.ImageContextToken} plus markers, never cut) and the template, system message and BOS ") +
                    string.Create(inv, $"{promptLength - cuttable - imageIds} more, so it needs at least {minimum}{withResponse} ") +
                    string.Create(inv, $"even with all {cuttable} tokens of user text removed. Raise the maximum length or use fewer tiles.");
                throw new PromptTooLongException(message,
                    row, max, minimum, imageIds);
            }
            promptCut = Math.Max(0, need);
        }

        var promptIds = new List<int>(promptLength - promptCut);
        if (bosId is int b)
            promptIds.Add(b);
        int toCut = promptCut;
        foreach (var s in prompt)
        {
            int drop = s.Cuttable ? Math.Min(toCut, s.Ids.Length) : 0;
            toCut -= drop;
            promptIds.AddRange(s.Ids.AsSpan(drop));
        }

        if (responses.Count == 0)
        {
            int[] ids = [.. promptIds];
            return [new TokenizedSequence(ids, Ignored(ids.Length), ids.Length, contextIds, endsTurn: false, new TruncationReport(promptCut, 0, 0))];
        }

        var result = new TokenizedSequence[responses.Count];
        for (int r = 0; r < responses.Count; r++)
        {
            int room = maxLength is int m ? m - promptIds.Count : int.MaxValue;
            var ids = new List<int>(promptIds);
            var labels = new List<int>(Ignored(promptIds.Count));
            int kept = 0, responseRemoved = 0, closingRemoved = 0, endOfTurnIds = 0, endOfTurnKept = 0;
            foreach (var s in responses[r])
            {
                bool labelled = s.Kind is SegmentKind.Response or SegmentKind.EndOfTurn;
                if (s.Kind == SegmentKind.EndOfTurn)
                    endOfTurnIds += s.Ids.Length;
                foreach (int id in s.Ids)
                {
                    if (kept < room)
                    {
                        ids.Add(id);
                        labels.Add(labelled ? id : PromptBuilder.IgnoreIndex);
                        kept++;
                        if (s.Kind == SegmentKind.EndOfTurn)
                            endOfTurnKept++;
                    }
                    else if (s.Kind == SegmentKind.Response)
                    {
                        responseRemoved++;
                    }
                    else
                    {
                        closingRemoved++;
                    }
                }
            }
            result[r] = new TokenizedSequence([.. ids], [.. labels], promptIds.Count, contextIds,
                endsTurn: endOfTurnIds > 0 && endOfTurnKept == endOfTurnIds, new TruncationReport(promptCut, responseRemoved, closingRemoved));
        }
        return result;
    }

    private static int[] Ignored(int count)
    {
        var a = new int[count];
        Array.Fill(a, PromptBuilder.IgnoreIndex);
        return a;
    }
}
