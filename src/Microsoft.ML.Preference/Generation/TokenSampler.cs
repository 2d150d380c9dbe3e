using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Generation;

/// <summary>
/// Picks the next token from float32 logits [B, V]: argmax when greedy, else temperature, top-k and top-p
/// (nucleus) filtering as Hugging Face's logits warpers apply them, then a draw from a seeded generator.
/// </summary>
internal sealed class TokenSampler : IDisposable
{
    private readonly GenerationOptions _options;
    private readonly Generator? _generator;
    // With per-request seeds: each group of consecutive rows and its own generator (null: one generator for all rows).
    private readonly (int Rows, Generator Generator)[]? _groups;

    // Held for every call that reads them (see HeldScalars): the temperature and top-p's 1 − p.
    private readonly Scalar _temperature;
    private readonly Scalar _dropUpTo;

    /// <summary>Creates a sampler; its random stream is fixed by <see cref="GenerationOptions.Seed"/>.</summary>
    public TokenSampler(GenerationOptions options, Device device)
    {
        options.Validate();
        _options = options;
        _temperature = options.Temperature.ToScalar();
        _dropUpTo = (1 - options.TopP).ToScalar();
        if (options.Sampling)
            _generator = new Generator((ulong)options.Seed, device);
    }

    /// <summary>
    /// Creates a sampler whose rows come in groups, each drawn from a generator of its own seeded by the group's seed
    /// (the rows of one request, so that a request batched with others draws what it would draw alone).
    /// </summary>
    public TokenSampler(GenerationOptions options, Device device, IReadOnlyList<(int Rows, long Seed)> groups) : this(options, device)
    {
        if (options.Sampling)
            _groups = groups.Select(g => (g.Rows, new Generator((ulong)g.Seed, device))).ToArray();
    }

    /// <summary>The next token id of every row [B].</summary>
    public Tensor Next(Tensor logits)
    {
        using var scope = torch.NewDisposeScope();
        if (_generator is null)
            return logits.argmax(-1).MoveToOuterDisposeScope();
        var scores = logits.to(ScalarType.Float32).div(_temperature);
        if (_options.TopK > 0 && _options.TopK < scores.shape[^1])
        {
            var kth = scores.topk(_options.TopK, dim: -1).values.narrow(-1, _options.TopK - 1, 1);
            scores = scores.masked_fill(scores < kth, HeldScalars.NegativeInfinity);
        }
        if (_options.TopP < 1.0)
        {
            // HF TopPLogitsWarper: sort ascending, drop the tokens whose cumulative mass stays within 1 - p; keep the last.
            var (sorted, order) = scores.sort(dim: -1, descending: false);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            var drop = cumulative.le(_dropUpTo);
            drop[.., -1] = torch.tensor(false, device: drop.device);
            var dropInVocabOrder = drop.scatter(-1, order, drop);
            scores = scores.masked_fill(dropInVocabOrder, HeldScalars.NegativeInfinity);
        }
        var probabilities = scores.softmax(-1);
        if (_groups is null)
            return torch.multinomial(probabilities, 1, generator: _generator).squeeze(-1).MoveToOuterDisposeScope();
        var draws = new List<Tensor>(_groups.Length);
        long start = 0;
        foreach (var (rows, generator) in _groups)
        {
            draws.Add(torch.multinomial(probabilities.narrow(0, start, rows), 1, generator: generator));
            start += rows;
        }
        if (start != probabilities.shape[0])
            throw new ArgumentException($"The sampler's groups cover {start} rows; the logits have {probabilities.shape[0]}.", nameof(logits));
        return torch.cat(draws).squeeze(-1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _generator?.Dispose();
        foreach (var (_, generator) in _groups ?? [])
            generator.Dispose();
        _temperature.Dispose();
        _dropUpTo.Dispose();
    }
}
