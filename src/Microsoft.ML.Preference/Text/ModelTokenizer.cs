namespace Microsoft.ML.Preference.Text;

/// <summary>
/// The tokenizer of a Hugging Face model folder, loaded with Microsoft.ML.Tokenizers: byte-level BPE for Qwen2/Qwen3
/// language models, SentencePiece for InternLM2. Added tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;IMG_CONTEXT&gt;</c>…)
/// are always single ids, cut out of the text before the subword model runs.
/// </summary>
public sealed class ModelTokenizer
{
    /// <summary>The SentencePiece model file.</summary>
    public const string SentencePieceModelFileName = "tokenizer.model";

    private readonly ITokenizerBackend _backend;
    private readonly IReadOnlyDictionary<string, int> _vocabulary;
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);
    private readonly Dictionary<int, string> _addedById = [];
    private readonly string?[] _vocabularyById;
    private readonly HashSet<int> _specialIds = [];
    private readonly List<AddedToken> _added;

    private ModelTokenizer(string folder, TokenizerKind kind, ITokenizerBackend backend, List<AddedToken> added, List<string> files)
    {
        FolderPath = folder;
        Kind = kind;
        _backend = backend;
        _added = added;
        Files = files;
        _vocabulary = backend.Vocabulary;
        _vocabularyById = new string?[_vocabulary.Count == 0 ? 0 : _vocabulary.Values.Max() + 1];
        foreach (var (token, id) in _vocabulary)
            _vocabularyById[id] ??= token;
        foreach (var t in added)
        {
            _addedByContent.TryAdd(t.Content, t.Id);
            _addedById.TryAdd(t.Id, t.Content);   // the file listed first wins an id claimed twice
        }
        VocabularySize = _vocabulary.Count + _addedById.Keys.Count(id => id >= _vocabularyById.Length || _vocabularyById[id] is null);
        AddedTokens = new SpecialTokenIds(added, folder, files);
    }

    /// <summary>
    /// Loads the tokenizer of <paramref name="directory"/>, chosen by the files present: <c>tokenizer.json</c>
    /// (byte-level BPE; a SentencePiece-style one falls back to tokenizer.model), else <c>vocab.json</c> +
    /// <c>merges.txt</c> (byte-level BPE, Qwen2 rules), else <c>tokenizer.model</c> (SentencePiece). Added tokens
    /// come from added_tokens.json, tokenizer.json and tokenizer_config.json (in that order of preference) and,
    /// for SentencePiece, the model's user-defined symbols; BOS/EOS/PAD from tokenizer_config.json, then the
    /// SentencePiece model, then config.json.
    /// </summary>
    /// <param name="directory">The model (or tokenizer) folder.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">It has no tokenizer files; the message lists those looked for.</exception>
    /// <exception cref="TokenizerFileException">A file is malformed or uses a feature that cannot be reproduced.</exception>
    public static ModelTokenizer FromFolder(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string dir = Path.GetFullPath(directory);
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"Tokenizer folder {dir} does not exist.");
        string PathOf(string name) => Path.Combine(dir, name);
        string jsonPath = PathOf(AddedTokenFiles.TokenizerJson), modelPath = PathOf(SentencePieceModelFileName);
        string vocabPath = PathOf(VocabMergesFiles.VocabJson), mergesPath = PathOf(VocabMergesFiles.MergesTxt);
        var files = new List<string>();

        string addedPath = PathOf(AddedTokenFiles.AddedTokensJson);
        var fromAddedJson = File.Exists(addedPath) ? AddedTokenFiles.FromAddedTokensJson(addedPath) : [];
        var config = TokenizerConfigFile.Load(dir);
        if (File.Exists(addedPath))
            files.Add(addedPath);
        if (config is not null)
            files.Add(config.Path);
        var json = File.Exists(jsonPath) ? TokenizerJsonFile.Read(jsonPath) : null;
        List<AddedToken> Added(params IEnumerable<AddedToken>[] more) => AddedTokenFiles.Merge(
            new[] { fromAddedJson, json?.AddedTokens ?? [], config?.AddedTokens ?? [] }.Concat(more), config?.SpecialContents);

        ModelTokenizer tokenizer;
        SentencePieceModelFile? spModel = null;
        SentencePieceBackend? spBackend = null;
        if (json?.Bpe is { } fromJson)
        {
            files.Add(jsonPath);
            var added = Added();
            tokenizer = new ModelTokenizer(dir, TokenizerKind.ByteLevelBpe, ByteLevelBpeBackend.Create(fromJson, added), added, files);
        }
        else if (json is not null && !File.Exists(modelPath))
        {
            throw new TokenizerFileException(jsonPath, json.Unsupported!);
        }
        else if (json is null && File.Exists(vocabPath) && File.Exists(mergesPath))
        {
            files.AddRange([vocabPath, mergesPath]);
            var definition = VocabMergesFiles.Read(vocabPath, mergesPath, config?.TokenizerClass, config?.Path);
            var added = Added();
            tokenizer = new ModelTokenizer(dir, TokenizerKind.ByteLevelBpe, ByteLevelBpeBackend.Create(definition, added), added, files);
        }
        else if (File.Exists(modelPath))
        {
            // Here also when tokenizer.json is a SentencePiece conversion (byte fallback) that BpeTokenizer cannot run.
            files.Add(modelPath);
            if (json is not null)
                files.Add(jsonPath);
            byte[] bytes = File.ReadAllBytes(modelPath);
            spModel = SentencePieceModelFile.Read(bytes, modelPath);
            // User-defined symbols are one piece wherever they occur, in SentencePiece as for added tokens.
            var userDefined = spModel.Pieces
                .Select((p, id) => (p.Piece, p.Type, id))
                .Where(p => p.Type == SentencePieceModelFile.PieceType.UserDefined)
                .Select(p => new AddedToken(p.Piece, p.id, Special: false));
            var added = Added(userDefined);
            spBackend = SentencePieceBackend.Create(modelPath, bytes, spModel, added);
            tokenizer = new ModelTokenizer(dir, TokenizerKind.SentencePiece, spBackend, added, files);
        }
        else if (File.Exists(vocabPath) != File.Exists(mergesPath))
        {
            var (have, missing) = File.Exists(vocabPath) ? (vocabPath, mergesPath) : (mergesPath, vocabPath);
            throw new FileNotFoundException($"Tokenizer folder {dir} has {Path.GetFileName(have)} but not {Path.GetFileName(missing)}; a byte-level BPE needs both.", missing);
        }
        else
        {
            throw new FileNotFoundException(
                $"No tokenizer in {dir}: looked for {AddedTokenFiles.TokenizerJson}, {VocabMergesFiles.VocabJson} + {VocabMergesFiles.MergesTxt}, and {SentencePieceModelFileName}.");
        }
        // BOS/EOS/PAD: tokenizer_config.json decides when it names the token (null there means none: Qwen has no
        // BOS), then the SentencePiece model's own ids, then the model's config.json.
        tokenizer.BosId = tokenizer.ResolveNamed(config, "bos_token", spBackend?.Inner.BeginningOfSentenceId, dir);
        tokenizer.EosId = tokenizer.ResolveNamed(config, "eos_token", spBackend?.Inner.EndOfSentenceId, dir);
        tokenizer.PadId = tokenizer.ResolveNamed(config, "pad_token", spModel?.PadId, dir);
        // transformers' SentencePiece tokenizers (Llama, InternLM2) add BOS unless told otherwise; Qwen's never do.
        tokenizer.AddBosByDefault = tokenizer.BosId is not null && (config?.AddBosToken ?? tokenizer.Kind == TokenizerKind.SentencePiece);

        tokenizer.SpecialTokens = tokenizer.CollectSpecialTokens(spModel);
        tokenizer._specialIds.UnionWith(tokenizer.SpecialTokens.Values);
        return tokenizer;
    }

    /// <summary>The folder (full path).</summary>
    public string FolderPath { get; }

    /// <summary>BPE or SentencePiece.</summary>
    public TokenizerKind Kind { get; }

    /// <summary>The files that were read.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>
    /// Number of distinct ids: the subword vocabulary plus added tokens beyond it (HF's <c>len(tokenizer)</c>).
    /// A model's embedding may have more rows (Qwen pads to 151,936).
    /// </summary>
    public int VocabularySize { get; }

    /// <summary>Every added token, name → id, with <see cref="SpecialTokenIds.ImageContextId"/> and friends.</summary>
    public SpecialTokenIds AddedTokens { get; }

    /// <summary>
    /// The special tokens, name → id: added tokens flagged special and the BOS/EOS/PAD/unknown tokens.
    /// <see cref="Decode"/> with <c>skipSpecial</c> drops exactly these (Qwen3's non-special <c>&lt;think&gt;</c> stays).
    /// </summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; private set; } = new Dictionary<string, int>();

    /// <summary>The beginning-of-sequence id, or null when the tokenizer has none (Qwen2/Qwen3).</summary>
    public int? BosId { get; private set; }

    /// <summary>The end-of-sequence id (Qwen3 chat: <c>&lt;|im_end|&gt;</c>; InternLM2: <c>&lt;/s&gt;</c>), or null.</summary>
    public int? EosId { get; private set; }

    /// <summary>The padding id, or null when the folder names none.</summary>
    public int? PadId { get; private set; }

    /// <summary>Whether transformers would prepend BOS for this folder (<c>add_bos_token</c>): the value to pass as addBos.</summary>
    public bool AddBosByDefault { get; private set; }

    /// <summary>Encodes <paramref name="text"/>; added tokens in it become their ids. Never appends EOS.</summary>
    /// <param name="text">The text.</param>
    /// <param name="addBos">Prepend <see cref="BosId"/>.</param>
    /// <exception cref="InvalidOperationException"><paramref name="addBos"/> is true but the tokenizer has no BOS.</exception>
    public IReadOnlyList<int> Encode(string text, bool addBos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos)
            ids.Add(BosId ?? throw new InvalidOperationException($"The tokenizer of {FolderPath} has no BOS token (Qwen2/Qwen3 have none), so addBos cannot be honoured."));
        _backend.Encode(text, ids);
        return ids;
    }

    /// <summary>Decodes ids to text; added tokens come back as their text.</summary>
    /// <param name="ids">The ids.</param>
    /// <param name="skipSpecial">Drop the ids of <see cref="SpecialTokens"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An id is neither in the vocabulary nor an added token.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var kept = new List<int>();
        foreach (int id in ids)
        {
            if (IdToToken(id) is null)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is not in the tokenizer of {FolderPath} ({VocabularySize} ids).");
            if (!skipSpecial || !_specialIds.Contains(id))
                kept.Add(id);
        }
        return _backend.Decode(kept);
    }

    /// <summary>
    /// The id of a token as the vocabulary stores it (an added token's text, a BPE token like "Ġworld", a
    /// SentencePiece piece like "▁wor"), or null.
    /// </summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_addedByContent.TryGetValue(token, out int id) || _vocabulary.TryGetValue(token, out id))
            return id;
        return null;
    }

    /// <summary>The token string of <paramref name="id"/> (added tokens first), or null when the id is unknown.</summary>
    public string? IdToToken(int id)
    {
        if (_addedById.TryGetValue(id, out var content))
            return content;
        return id >= 0 && id < _vocabularyById.Length ? _vocabularyById[id] : null;
    }

    private int? ResolveNamed(TokenizerConfigFile? config, string key, int? modelId, string dir)
    {
        if (config is not null && config.TryGetNamedToken(key, out var content))
        {
            if (content is null)
                return null;
            return TokenToId(content) ?? throw new TokenizerFileException(config.Path, $"{key} \"{content}\" is neither an added token nor in the vocabulary");
        }
        if (modelId is >= 0)
            return modelId;
        return ModelConfigFile.ReadId(dir, key + "_id");
    }

    // Added tokens flagged special (Merge has applied tokenizer_config's special names), then BOS/EOS/PAD and,
    // for SentencePiece, the control and unknown pieces: what transformers' skip_special_tokens drops.
    private Dictionary<string, int> CollectSpecialTokens(SentencePieceModelFile? spModel)
    {
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in _added.Where(t => t.Special == true))
            special.TryAdd(t.Content, t.Id);
        var more = new List<int?> { BosId, EosId, PadId };
        if (spModel is not null)
            more.AddRange(spModel.Pieces.Select((p, id) => (p.Type, id))
                .Where(p => p.Type is SentencePieceModelFile.PieceType.Control or SentencePieceModelFile.PieceType.Unknown)
                .Select(p => (int?)p.id));
        foreach (var id in more)
            if (id is int i && IdToToken(i) is { } token)
                special.TryAdd(token, i);
        return special;
    }
}
