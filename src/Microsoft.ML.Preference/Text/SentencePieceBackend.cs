using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// SentencePiece BPE (InternLM2's <c>tokenizer.model</c>) on Microsoft.ML.Tokenizers' <see cref="SentencePieceTokenizer"/>.
/// The library does the normalisation, merges, byte fallback and decoding. One thing it does differently from
/// SentencePiece: given special tokens it cuts them from the raw text and adds the dummy prefix "▁" to each
/// remaining piece, so <c>&lt;|im_start|&gt;user</c> becomes [&lt;|im_start|&gt;, ▁user]. SentencePiece normalises
/// the whole text once (one "▁" at the very start) and then matches user-defined symbols inside it, giving
/// [▁, &lt;|im_start|&gt;, us, er]. This class reproduces that order: normalise all, cut added tokens, then hand
/// each piece to the library with normalisation off.
/// </summary>
internal sealed class SentencePieceBackend : ITokenizerBackend
{
    private readonly SentencePieceTokenizer _sp;
    private readonly SentencePieceNormalizer _normalizer;
    private readonly AddedTokenSplitter _splitter;

    private SentencePieceBackend(SentencePieceTokenizer sp, SentencePieceNormalizer normalizer, AddedTokenSplitter splitter)
    {
        _sp = sp;
        _normalizer = normalizer;
        _splitter = splitter;
    }

    /// <summary>The library's tokenizer (for its BOS/EOS/UNK ids).</summary>
    public SentencePieceTokenizer Inner => _sp;

    /// <summary>Builds the tokenizer from the model bytes; <paramref name="added"/> are all added tokens, merged.</summary>
    public static SentencePieceBackend Create(string path, byte[] bytes, SentencePieceModelFile model, IReadOnlyList<AddedToken> added)
    {
        if (model.ModelType != 2)
            throw new TokenizerFileException(path, $"is a SentencePiece model of type {ModelTypeName(model.ModelType)}; only BPE models (InternLM2's kind) are supported");
        if (model.NormalizerName is { } name && name != "identity")
            throw new TokenizerFileException(path, $"normalizer_spec.name is {name}; only identity normalisation is supported (InternLM2 and Llama use it)");
        SentencePieceTokenizer sp;
        try
        {
            // Special tokens are given only so that Decode renders ids past the model (InternVL's <IMG_CONTEXT>):
            // encoding never hands the library a text that still contains one.
            var specials = added.GroupBy(t => t.Content).ToDictionary(g => g.Key, g => g.First().Id, StringComparer.Ordinal);
            using var stream = new MemoryStream(bytes, writable: false);
            sp = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false, specialTokens: specials);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException or IOException or NotSupportedException)
        {
            throw new TokenizerFileException(path, $"Microsoft.ML.Tokenizers' SentencePieceTokenizer rejected it: {ex.Message}", ex);
        }
        var libraryNormalizer = sp.Normalizer as SentencePieceNormalizer
            ?? throw new TokenizerFileException(path, "Microsoft.ML.Tokenizers built no SentencePiece normaliser for it");
        // The same settings without special tokens: the normaliser must treat the whole text as SentencePiece does.
        var normalizer = new SentencePieceNormalizer(libraryNormalizer.RemoveExtraWhiteSpaces, libraryNormalizer.AddDummyPrefix,
            libraryNormalizer.EscapeWhiteSpaces, libraryNormalizer.TreatWhitespaceAsSuffix, specialTokens: null);
        // Tokens are matched in the normalised text, where a space is already "▁".
        var inNormalizedText = normalizer.EscapeWhiteSpaces ? added.Select(t => t with { Content = t.Content.Replace(' ', '▁') }) : added;
        return new SentencePieceBackend(sp, normalizer, new AddedTokenSplitter(inNormalizedText));
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, int> Vocabulary => _sp.Vocabulary;

    /// <inheritdoc />
    public void Encode(string text, List<int> ids)
    {
        string normalized = _normalizer.Normalize(text);
        foreach (var s in _splitter.Split(normalized))
        {
            if (s.Token is not null)
                ids.Add(s.Token.Id);
            else
                ids.AddRange(_sp.EncodeToIds(normalized.AsSpan(s.Start, s.Length), addBeginningOfSentence: false,
                    addEndOfSentence: false, considerPreTokenization: false, considerNormalization: false));
        }
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids) => _sp.Decode(ids, considerSpecialTokens: true);

    private static string ModelTypeName(int type) => type switch
    {
        1 => "UNIGRAM",
        2 => "BPE",
        3 => "WORD",
        4 => "CHAR",
        _ => type.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
