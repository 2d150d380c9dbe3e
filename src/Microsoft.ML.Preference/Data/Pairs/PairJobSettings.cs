using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>
/// What a pair job's output depends on besides its rows: the pipeline, the generator (its weights and system message)
/// and the sampling settings. Written as the first line of the job file, and compared when a rerun resumes it, so a
/// rerun with another temperature or another model does not silently keep the rows of the first run.
/// </summary>
internal static class PairJobSettings
{
    /// <summary>The name of the header line's one field.</summary>
    public const string HeaderField = "job_settings";

    /// <summary>The settings of a <paramref name="pipeline"/> run with <paramref name="model"/> and its own <paramref name="values"/>.</summary>
    public static JsonObject Create(string pipeline, VisionLanguageModel model, JsonObject values)
    {
        var settings = new JsonObject
        {
            ["pipeline"] = pipeline,
            // The weights (sampled blocks of every shard and the config), not the folder's name or place.
            ["model"] = Directory.Exists(model.Folder) ? Fingerprints.ModelFolder(model.Folder) : "(in memory)",
            ["system_message"] = model.Prompts.SystemMessage,
        };
        foreach (var (name, value) in values)
            settings[name] = value?.DeepClone();
        return settings;
    }

    /// <summary>The decoding settings that change what is generated (not the per-row seed, which follows the job's).</summary>
    public static JsonObject Generation(GenerationOptions o) => new()
    {
        ["max_new_tokens"] = o.MaxNewTokens, ["temperature"] = o.Temperature, ["top_k"] = o.TopK, ["top_p"] = o.TopP,
        ["stop_token_ids"] = new JsonArray([.. o.StopTokenIds.Select(id => (JsonNode)id)]),
        ["stop_strings"] = new JsonArray([.. o.StopStrings.Select(s => (JsonNode)s)]),
    };

    /// <summary>"name: old → new" for every setting that differs (empty when they agree).</summary>
    public static IReadOnlyList<string> Differences(JsonObject written, JsonObject now) =>
        written.Select(kv => kv.Key).Union(now.Select(kv => kv.Key))
            .Where(name => !JsonNode.DeepEquals(written[name], now[name]))
            .Select(name => $"{name}: {Show(written[name])} → {Show(now[name])}")
            .ToList();

    private static string Show(JsonNode? value)
    {
        var text = value?.ToJsonString() ?? "(none)";
        return text.Length > 24 ? text[..21] + "..." : text;
    }
}
