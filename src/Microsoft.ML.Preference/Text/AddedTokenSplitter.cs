using System.Text.RegularExpressions;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// Cuts added tokens out of a text before the subword model sees it, as HF tokenizers do: at each position the
/// leftmost match wins and, among matches there, the longest (so a token that is a prefix of another never
/// steals it). Every occurrence is cut, also when glued to words (<c>Hello&lt;|im_end|&gt;world</c>).
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Regex? _regex;
    private readonly Dictionary<string, AddedToken> _byContent;

    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        _byContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (var t in tokens)
            _byContent.TryAdd(t.Content, t);
        if (_byContent.Count == 0)
            return;
        // .NET alternation takes the first alternative that matches at the leftmost position; listing longer
        // contents first turns that into leftmost-longest. Case-sensitive, culture-free: an ordinal match.
        var alternatives = _byContent.Keys
            .OrderByDescending(k => k.Length).ThenBy(k => k, StringComparer.Ordinal)
            .Select(Regex.Escape);
        _regex = new Regex(string.Join("|", alternatives), RegexOptions.CultureInvariant);
    }

    /// <summary>One piece of the text: plain text to encode (<see cref="Token"/> null) or an added token.</summary>
    public readonly record struct Segment(int Start, int Length, AddedToken? Token);

    /// <summary>The text as plain pieces and added tokens, in order; whitespace a strip flag swallows is dropped.</summary>
    public List<Segment> Split(string text)
    {
        var segments = new List<Segment>();
        int pos = 0;
        if (_regex is not null)
        {
            for (var m = _regex.Match(text); m.Success; m = _regex.Match(text, pos))
            {
                var token = _byContent[m.Value];
                int start = m.Index;
                if (token.LStrip)
                    while (start > pos && char.IsWhiteSpace(text[start - 1]))
                        start--;
                if (start > pos)
                    segments.Add(new Segment(pos, start - pos, null));
                segments.Add(new Segment(m.Index, m.Length, token));
                pos = m.Index + m.Length;
                if (token.RStrip)
                    while (pos < text.Length && char.IsWhiteSpace(text[pos]))
                        pos++;
                if (pos >= text.Length)
                    break;
            }
        }
        if (pos < text.Length)
            segments.Add(new Segment(pos, text.Length - pos, null));
        return segments;
    }
}
