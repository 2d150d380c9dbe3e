using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>
/// Analytic matrix-multiply FLOPs (2 per multiply-add) of one forward pass, so that benchmarks can state
/// what fraction of the machine's GEMM rate they reach. Attention is counted as full T×T, as the benchmark
/// configuration does; element-wise work (norms, softmax, activations) is not counted.
/// </summary>
internal static class FlopCounter
{
    /// <summary>Forward FLOPs for <paramref name="sequences"/> sequences of <paramref name="sequenceLength"/> tokens and <paramref name="tiles"/> image tiles.</summary>
    public static double Forward(InternVLConfig config, long sequences, long sequenceLength, long tiles)
        => Vision(config, tiles) + Projector(config, tiles) + Language(config.Language, sequences, sequenceLength);

    /// <summary>InternViT: patch convolution, then per layer qkv, proj, fc1, fc2 and the two attention products.</summary>
    public static double Vision(InternVLConfig config, long tiles)
    {
        var v = config.Vision;
        long grid = v.GridSize;
        long patches = grid * grid, tokens = patches + 1, c = v.HiddenSize;
        double patchEmbed = (double)patches * v.NumChannels * v.PatchSize * v.PatchSize * c;
        double perTokenLayer = c * 3.0 * c + c * c + 2.0 * c * v.IntermediateSize;
        double attention = 2.0 * tokens * tokens * c;
        double perTile = patchEmbed + v.NumHiddenLayers * (tokens * perTokenLayer + attention);
        return 2 * tiles * perTile;
    }

    /// <summary>mlp1 over each tile's image tokens.</summary>
    public static double Projector(InternVLConfig config, long tiles)
    {
        int step = (int)Math.Round(1 / config.DownsampleRatio);
        double merged = (double)config.Vision.HiddenSize * step * step;
        double d = config.Language.HiddenSize;
        return 2 * tiles * config.NumImageToken * (merged * d + d * d);
    }

    /// <summary>The decoder: q, k, v, o, the gated MLP and the output head per token, attention per sequence.</summary>
    public static double Language(LanguageModelConfig l, long sequences, long sequenceLength)
    {
        double d = l.HiddenSize, kv = (double)l.NumKeyValueHeads * l.HeadDim, q = (double)l.NumAttentionHeads * l.HeadDim;
        double perTokenLayer = d * q + 2 * d * kv + q * d + 3 * d * l.IntermediateSize;
        double perToken = l.NumHiddenLayers * perTokenLayer + d * l.VocabSize;
        double attention = l.NumHiddenLayers * 2.0 * sequenceLength * sequenceLength * q;
        return 2 * sequences * (sequenceLength * perToken + attention);
    }
}
