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
        string? imageColumnName = "Image", string questionColumnName = "Prompt", string answerColumnName = "AnswerGt", string? imageRoot = null)
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
        string? imageColumnName = "Image", string questionColumnName = "Prompt", string? responseColumnName = "Response", string? imageRoot = null)
    {
        var rows = PreferenceDataReader.ReadQuestions(questions, imageColumnName, questionColumnName, null, responseColumnName, imageRoot).ToList();
        var statistics = DropoutNtpPipeline.Run(generator, rows, options);
        return Result(options.OutputPath, statistics);
    }

    /// <summary>The pairs, format failures and statistics of a pair job's output file (finished or interrupted).</summary>
    public PairConstructionResult LoadPairs(string jobPath)
    {
        if (!File.Exists(jobPath))
            throw new FileNotFoundException($"Pair job file '{jobPath}' does not exist.", jobPath);
        using var log = new PairJobLog(jobPath);
        return Result(jobPath, PairConstructionStatistics.FromMarkers(log.Markers));
    }

    private PairConstructionResult Result(string path, PairConstructionStatistics statistics)
    {
        var records = PairJobLog.Records(path).ToList();
        string[] Images(System.Text.Json.Nodes.JsonObject o) => o["image"]!.AsArray().Select(x => x!.GetValue<string>()).ToArray();
        string Text(System.Text.Json.Nodes.JsonObject o, string name) => o[name]?.GetValue<string>() ?? "";
        var pairs = records.Where(r => Text(r, "kind") == "pair").Select(r => new GeneratedPairRow
        {
            Image = Images(r), Prompt = Text(r, "question"), Chosen = Text(r, "chosen"), Rejected = Text(r, "rejected"), AnswerGt = Text(r, "answer_gt"),
        }).ToList();
        var failures = records.Where(r => Text(r, "kind") == "format_failure").Select(r => new FormatFailureRow
        {
            Image = Images(r), Prompt = Text(r, "question"), Response = Text(r, "response"), AnswerGt = Text(r, "answer_gt"),
        }).ToList();
        return new PairConstructionResult(Context.Data.LoadFromEnumerable(pairs), Context.Data.LoadFromEnumerable(failures), statistics, path);
    }
}
