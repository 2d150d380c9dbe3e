using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// Byte-level BPE (Qwen2/Qwen2.5/Qwen3) on Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>: the merges, byte
/// mapping and decoding are the library's; this class only feeds it the definition and cuts added tokens out first.
/// </summary>
internal sealed class ByteLevelBpeBackend : ITokenizerBackend
{
    private readonly BpeTokenizer _bpe;
    private readonly AddedTokenSplitter _splitter;

    private ByteLevelBpeBackend(BpeTokenizer bpe, IReadOnlyList<AddedToken> added)
    {
        _bpe = bpe;
        _splitter = new AddedTokenSplitter(added);
    }

    /// <summary>Builds the tokenizer; <paramref name="added"/> are all the folder's added tokens, merged.</summary>
    public static ByteLevelBpeBackend Create(ByteLevelBpeDefinition definition, IReadOnlyList<AddedToken> added)
    {
        var options = new BpeOptions(definition.Vocabulary)
        {
            Merges = definition.Merges,
            // Only for decoding: ids past the BPE vocabulary (<|im_end|>, <IMG_CONTEXT>) decode to their content.
            // Encoding never sees them, because the splitter has cut them out of the text already.
            SpecialTokens = added.GroupBy(t => t.Content).ToDictionary(g => g.Key, g => g.First().Id, StringComparer.Ordinal),
            // Compiled: the regex runs over every character of every training text.
            PreTokenizer = new RegexPreTokenizer(
                new Regex(definition.SplitPattern, RegexOptions.Compiled | RegexOptions.CultureInvariant), specialTokens: null),
            Normalizer = definition.Normalization.Count == 0 ? null : new UnicodeFormNormalizer(definition.Normalization),
            ByteLevel = true,
            UnknownToken = definition.UnknownToken!,
            ContinuingSubwordPrefix = definition.ContinuingSubwordPrefix!,
            EndOfWordSuffix = definition.EndOfWordSuffix!,
            FuseUnknownTokens = definition.FuseUnknownTokens,
        };
        try
        {
            return new ByteLevelBpeBackend(BpeTokenizer.Create(options), added);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new TokenizerFileException(definition.Path, $"Microsoft.ML.Tokenizers' BpeTokenizer rejected it: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, int> Vocabulary => _bpe.Vocabulary;

    /// <inheritdoc />
    public void Encode(string text, List<int> ids)
    {
        // HF order: added tokens are cut from the raw text, then each remaining piece is normalised (NFC),
        // pre-tokenised by the regex and merged — by the library, piece by piece.
        foreach (var s in _splitter.Split(text))
        {
            if (s.Token is not null)
                ids.Add(s.Token.Id);
            else
                ids.AddRange(_bpe.EncodeToIds(text.Substring(s.Start, s.Length)));
        }
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids, considerSpecialTokens: true);
}
