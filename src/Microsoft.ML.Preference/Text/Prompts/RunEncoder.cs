using System.Text;

namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>
/// Encodes a conversation segment by segment so that the ids are those of the whole text, as InternVL tokenizes the
/// rendered conversation in one call, while still knowing which ids belong to which segment. Each segment is
/// appended to the text so far and the longer text is encoded again; the new ids are those past the old ones.
/// Encoding pieces on their own would differ: SentencePiece adds its "▁" dummy prefix to every piece, and BPE
/// pre-tokenization can join characters across a boundary.
/// </summary>
/// <remarks>
/// Where the longer text changes ids already given out (a merge across the boundary, such as a response starting
/// with "\n" after the role's "\n"), the text is split at that boundary and the segment encoded on its own, as
/// TRL does between prompt and completion. InternVL's label arithmetic would mark such a row as a tokenization
/// mismatch and mask all of it; a split keeps the row usable. <see cref="ForcedSplits"/> counts them.
/// </remarks>
internal sealed class RunEncoder
{
    private readonly PromptEncoder _encoder;
    private readonly StringBuilder _run = new();
    private int[] _runIds = [];

    public RunEncoder(PromptEncoder encoder) => _encoder = encoder;

    private RunEncoder(RunEncoder other)
    {
        _encoder = other._encoder;
        _run.Append(other._run);
        _runIds = other._runIds;
        ForcedSplits = other.ForcedSplits;
    }

    /// <summary>How many boundaries had to be split because the whole text encoded across them.</summary>
    public int ForcedSplits { get; private set; }

    /// <summary>A copy that continues from here (the chosen and rejected responses after one shared prompt).</summary>
    public RunEncoder Fork() => new(this);

    /// <summary>The ids that <paramref name="text"/> adds to the text so far.</summary>
    public int[] Append(string text)
    {
        if (text.Length == 0)
            return [];
        _run.Append(text);
        var whole = _encoder.Encode(_run.ToString());
        if (StartsWith(whole, _runIds))
        {
            var added = new int[whole.Count - _runIds.Length];
            for (int i = 0; i < added.Length; i++)
                added[i] = whole[_runIds.Length + i];
            _runIds = [.. whole];
            return added;
        }
        ForcedSplits++;
        _run.Clear().Append(text);
        _runIds = [.. _encoder.Encode(text)];
        return [.. _runIds];
    }

    private static bool StartsWith(IReadOnlyList<int> ids, int[] prefix)
    {
        if (ids.Count < prefix.Length)
            return false;
        for (int i = 0; i < prefix.Length; i++)
            if (ids[i] != prefix[i])
                return false;
        return true;
    }
}
