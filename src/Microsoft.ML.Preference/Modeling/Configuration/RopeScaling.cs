using System.Text.Json.Nodes;

namespace Microsoft.ML.Preference.Modeling.Configuration;

/// <summary>
/// RoPE scaling of a config. <see cref="Type"/> is "linear" or "dynamic" (NTK) with <see cref="Factor"/>; "llama3"
/// (Llama 3.1+: <see cref="LowFreqFactor"/>, <see cref="HighFreqFactor"/>, <see cref="OriginalMaxPositionEmbeddings"/>);
/// or "longrope" (Phi-3's "su"/"longrope": <see cref="ShortFactor"/> and <see cref="LongFactor"/> per frequency,
/// chosen by whether the keys pass <see cref="OriginalMaxPositionEmbeddings"/>, and cos/sin scaled by
/// <see cref="AttentionFactor"/>). Formulas: transformers modeling_rope_utils.py (_compute_llama3_parameters,
/// _compute_longrope_parameters).
/// </summary>
public sealed record RopeScaling(string Type, double Factor)
{
    /// <summary>llama3: wavelengths longer than original / low are divided by the factor.</summary>
    public double LowFreqFactor { get; init; } = 1;
    /// <summary>llama3: wavelengths shorter than original / high are kept.</summary>
    public double HighFreqFactor { get; init; } = 4;
    /// <summary>llama3 and longrope: the context of pre-training.</summary>
    public int OriginalMaxPositionEmbeddings { get; init; }
    /// <summary>longrope: per-frequency divisors up to the original context.</summary>
    public IReadOnlyList<double>? ShortFactor { get; init; }
    /// <summary>longrope: per-frequency divisors beyond it.</summary>
    public IReadOnlyList<double>? LongFactor { get; init; }
    /// <summary>longrope: the cos/sin multiplier (config attention_factor, else sqrt(1 + ln s / ln original)).</summary>
    public double AttentionFactor { get; init; } = 1;
    /// <summary>The type name as config.json spelled it ("su" stays "su"), written back by <see cref="ToJson"/>.</summary>
    public string? SpelledType { get; init; }

    /// <summary>The kinds this package computes.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["linear", "dynamic", "llama3", "longrope"];

    internal static RopeScaling? Read(JsonConfigReader c, int headDim, int maxPositionEmbeddings)
    {
        if (c.OptionalObject("rope_scaling") is not { } rs)
            return null;
        var spelled = rs.Has("type") ? rs.String("type") : rs.String("rope_type");
        var type = spelled == "su" ? "longrope" : spelled; // Phi-3-mini-128k's config says "su", later ones "longrope"
        if (type == "default")
            return null;
        if (!Kinds.Contains(type))
            throw new NotSupportedException($"llm_config.rope_scaling type '{spelled}' is not supported; use {string.Join(", ", Kinds)}.");
        if (type == "longrope")
            return ReadLongRope(c, rs, spelled, headDim, maxPositionEmbeddings);
        var factor = rs.Double("factor");
        if (factor < 1)
            throw new InvalidDataException($"llm_config.rope_scaling.factor must be >= 1, not {factor}.");
        if (type != "llama3")
            return new RopeScaling(type, factor) { SpelledType = spelled };
        var scaling = new RopeScaling(type, factor)
        {
            LowFreqFactor = rs.Double("low_freq_factor"),
            HighFreqFactor = rs.Double("high_freq_factor"),
            OriginalMaxPositionEmbeddings = rs.Int("original_max_position_embeddings"),
            SpelledType = spelled,
        };
        if (scaling.HighFreqFactor <= scaling.LowFreqFactor)
            throw new InvalidDataException("llm_config.rope_scaling: high_freq_factor must exceed low_freq_factor.");
        return scaling;
    }

    private static RopeScaling ReadLongRope(JsonConfigReader c, JsonConfigReader rs, string spelled, int headDim, int maxPositionEmbeddings)
    {
        // As _compute_longrope_parameters: the factor is max / original when the config names an original context.
        int original = c.Int("original_max_position_embeddings", rs.Int("original_max_position_embeddings", maxPositionEmbeddings));
        double factor = c.Has("original_max_position_embeddings") ? (double)maxPositionEmbeddings / original : rs.Double("factor", 1);
        double attention = rs.Has("attention_factor")
            ? rs.Double("attention_factor")
            : factor <= 1 ? 1 : Math.Sqrt(1 + Math.Log(factor) / Math.Log(original));
        var shortFactor = rs.Doubles("short_factor");
        var longFactor = rs.Doubles("long_factor");
        if (shortFactor.Count != headDim / 2 || longFactor.Count != headDim / 2)
            throw new InvalidDataException(
                $"llm_config.rope_scaling: short_factor ({shortFactor.Count}) and long_factor ({longFactor.Count}) need head_dim / 2 = {headDim / 2} entries.");
        return new RopeScaling("longrope", factor)
        {
            OriginalMaxPositionEmbeddings = original, ShortFactor = shortFactor, LongFactor = longFactor,
            AttentionFactor = attention, SpelledType = spelled,
        };
    }

    /// <summary>The rope_scaling object as config.json writes it.</summary>
    public JsonObject ToJson()
    {
        var node = new JsonObject { ["type"] = SpelledType ?? Type };
        if (Type != "longrope")
            node["factor"] = Factor;
        if (Type == "llama3")
        {
            node["low_freq_factor"] = LowFreqFactor;
            node["high_freq_factor"] = HighFreqFactor;
            node["original_max_position_embeddings"] = OriginalMaxPositionEmbeddings;
        }
        if (Type == "longrope")
        {
            node["short_factor"] = new JsonArray(ShortFactor!.Select(x => (JsonNode)x).ToArray());
            node["long_factor"] = new JsonArray(LongFactor!.Select(x => (JsonNode)x).ToArray());
        }
        return node;
    }
}
