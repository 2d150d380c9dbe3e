using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Modeling;

namespace Microsoft.ML.Preference;

public sealed partial class PreferenceData
{
    /// <summary>
    /// MMPR's correctness-based pipeline over <paramref name="questions"/> (columns: images, question, ground truth),
    /// with <paramref name="generator"/> sampling the answers. Appends to <see cref="CorrectnessPipelineOptions.OutputPath"/>
    /// row by row; rerunning with the same path skips the rows already done.
    /// </summary>
    public PairConstructionResult BuildCorrectnessPairs(IDataView questions, VisionLanguageModel generator, CorrectnessPipelineOptions options,
        string? imageColumnName = PreferenceColumnNames.Image, string questionColumnName = PreferenceColumnNames.Prompt, string answerColumnName = PreferenceColumnNames.AnswerGt, string? imageRoot = null)
    {
        var rows = PreferenceDataReader.ReadQuestions(questions, imageColumnName, questionColumnName, answerColumnName, imageRoot: imageRoot).ToList();
        var statistics = CorrectnessPairPipeline.Run(generator, rows, options);
        return Result(options.OutputPath, statistics);
    }

    /// <summary>
    /// MMPR's DropoutNTP pipeline over <paramref name="questions"/> (columns: images, question and, optionally, an
    /// existing response — generated with the image when absent). Resumable like the correctness pipeline.
    /// </summary>
    public PairConstructionResult BuildDropoutNtpPairs(IDataView questions, VisionLanguageModel generator, DropoutNtpOptions options,
        string? imageColumnName = PreferenceColumnNames.Image, string questionColumnName = PreferenceColumnNames.Prompt, string? responseColumnName = PreferenceColumnNames.Response, string? imageRoot = null)
    {
        var rows = PreferenceDataReader.ReadQuestions(questions, imageColumnName, questionColumnName, null, responseColumnName, imageRoot).ToList();
        var statistics = DropoutNtpPipeline.Run(generator, rows, options);
        return Result(options.OutputPath, statistics);
    }

    /// <summary>
    /// The pairs, format failures and statistics of a pair job's output file (finished or interrupted; the lines of an
    /// unfinished last row are not read, and the file is not changed).
    /// </summary>
    public PairConstructionResult LoadPairs(string jobPath)
    {
        if (!File.Exists(jobPath))
            throw new FileNotFoundException($"Pair job file '{jobPath}' does not exist.", jobPath);
        return Result(jobPath, null);
    }

    /// <summary>
    /// Joins the finished job files of a sharded pair build (<see cref="PairJobShard"/>; a whole build's one file works
    /// too) into MMPR's layout in <paramref name="folder"/> as data set <paramref name="name"/>, in a canonical order (by
    /// input row), so N shards give the same bytes as one process. Unfinished shards, a missing or repeated shard, and
    /// shards of other settings or another input are refused naming the file, before anything is written. The pair-quality
    /// statistics are written beside the jsonl (<c>name.jsonl.stats.json</c>).
    /// </summary>
    /// <returns>The path of the meta.json written.</returns>
    public string MergePairShards(IEnumerable<string> jobFiles, string folder, string name) =>
        PairShardMerger.Merge(Context, [.. jobFiles], folder, name).MetaPath;

    private PairConstructionResult Result(string path, PairConstructionStatistics? statistics)
    {
        var file = PairJobFile.Read(path);
        var records = file.Records;
        string[] Images(System.Text.Json.Nodes.JsonObject o) => o["image"]!.AsArray().Select(x => x!.GetValue<string>()).ToArray();
        string Text(System.Text.Json.Nodes.JsonObject o, string name) => o[name]?.GetValue<string>() ?? "";
        var pairs = records.Where(r => Text(r, "kind") == "pair").Select(GeneratedPairRow.FromRecord).ToList();
        var failures = records.Where(r => Text(r, "kind") == "format_failure").Select(r => new FormatFailureRow
        {
            Image = Images(r), Prompt = Text(r, "question"), Response = Text(r, "response"), AnswerGt = Text(r, "answer_gt"),
        }).ToList();
        return new PairConstructionResult(Context.Data.LoadFromEnumerable(pairs), Context.Data.LoadFromEnumerable(failures),
            statistics ?? PairConstructionStatistics.FromMarkers(file.Markers), path, PairQualityStatistics.From(file));
    }
}
