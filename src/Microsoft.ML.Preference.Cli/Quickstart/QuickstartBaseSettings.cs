using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Preference.Cli.Quickstart;

/// <summary>
/// What a quickstart base model was made with, saved beside it, so that a rerun reuses the base only when it asks
/// for the same one. Before, <c>mpo quickstart --base-epochs 4</c> in a folder holding an 8-epoch base reused that
/// base without a word (the pairs, SFT and MPO runs are checked or redone; the base was the one stage that was not).
/// </summary>
internal sealed record QuickstartBaseSettings(
    int Seed, int TrainItems, int BaseEpochs, double BaseLearningRate, int Hidden, int Layers, int VisionHidden, int VisionLayers,
    int TokenizerMerges, string SystemMessage,
    // Written only when set, so that a base without the short-answer stage keeps the settings file it had before.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] double ShortCotShare,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] int ShortAnswerEpochs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] double ShortAnswerLearningRate,
    // Written only when it is not BatchBeforeItWasAnOption, so that older settings files still match.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? BaseBatchSize)
{
    /// <summary>The file, in the base model's folder.</summary>
    public const string FileName = "quickstart-base.json";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>The settings <paramref name="options"/> asks the base to be made with.</summary>
    public static QuickstartBaseSettings From(QuickstartOptions options) => new(
        options.Seed, options.TrainItems, options.BaseEpochs, options.BaseLearningRate, options.Hidden, options.Layers,
        options.VisionHidden, options.VisionLayers, options.TokenizerMerges, options.SystemMessage,
        options.ShortCotShare, options.ShortCotShare > 0 ? options.ShortAnswerEpochs : 0, options.ShortCotShare > 0 ? options.ShortAnswerLearningRate : 0,
        options.BaseBatchSize == BatchBeforeItWasAnOption ? null : options.BaseBatchSize);

    /// <summary>The batch of every base made before <see cref="QuickstartOptions.BaseBatchSize"/> existed (their files do not name it).</summary>
    private const int BatchBeforeItWasAnOption = 8;

    /// <summary>Writes the file into <paramref name="folder"/> (the base's folder, once the model is saved; its run folder, as training starts).</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, FileName), JsonSerializer.Serialize(this, Json));
    }

    /// <summary>
    /// Throws unless the base saved in <paramref name="baseDir"/> was made with these settings; the message names each
    /// setting that differs and what to do.
    /// </summary>
    public void EnsureMatches(string baseDir)
    {
        var differences = DifferencesFrom(baseDir)
            ?? throw new InvalidOperationException(
                $"{baseDir} holds a base model but no readable {FileName} (it was written by an earlier version, or by hand), so whether it is " +
                "the base this run asks for is unknown. Delete that folder to train the base again, or give another --out.");
        if (differences.Count > 0)
            throw new InvalidOperationException(
                $"{baseDir} holds a base model made with other settings ({string.Join(", ", differences)}). Give another --out, " +
                "or delete that folder (and the pairs made from it) to train the base again.");
    }

    /// <summary>
    /// The settings that differ from those saved in <paramref name="folder"/>, each as "name: saved → asked"; null when
    /// the folder holds no readable settings file.
    /// </summary>
    public IReadOnlyList<string>? DifferencesFrom(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path))
            return null;
        JsonObject? saved;
        try
        {
            saved = JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
        if (saved is null)
            return null;
        var asked = JsonSerializer.SerializeToNode(this, Json)!.AsObject();
        return asked
            .Where(p => !JsonNode.DeepEquals(p.Value, saved[p.Key]))
            .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key}: {saved[p.Key]?.ToJsonString() ?? "(missing)"} → {p.Value?.ToJsonString()}"))
            .ToList();
    }
}
