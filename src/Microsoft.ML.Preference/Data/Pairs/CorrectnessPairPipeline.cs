using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Evaluation;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>Settings of the correctness-based pipeline (MMPR's pipeline for questions with a ground truth).</summary>
public sealed record CorrectnessPipelineOptions
{
    /// <summary>Where pairs are appended (jsonl); rerunning with the same file resumes. Required.</summary>
    public string OutputPath { get; init; } = "";
    /// <summary>Samples per question. Default 8.</summary>
    public int SamplesPerQuestion { get; init; } = 8;
    /// <summary>
    /// The instruction the samples are drawn with, and how their answers are read: <see cref="AnswerMode.ChainOfThought"/>
    /// (the paper's pipeline; the answer is the last "Final answer:" line) or <see cref="AnswerMode.Direct"/> (the whole
    /// short response is the answer), whose pairs keep a model's direct answers right while it learns to reason. The
    /// pairs hold the question without the instruction either way: train on them with the same mode. Default
    /// ChainOfThought.
    /// </summary>
    public AnswerMode AnswerMode { get; init; } = AnswerMode.ChainOfThought;
    /// <summary>Sampling of the responses. Default temperature 1.0, top-p 1.0, 512 new tokens.</summary>
    public GenerationOptions Sampling { get; init; } = new() { Temperature = 1.0, MaxNewTokens = 512 };
    /// <summary>Most pairs kept per question (a seeded sample when there are more). Default 15.</summary>
    public int MaxPairsPerQuestion { get; init; } = 15;
    /// <summary>
    /// Rewrite the final answer line of correct responses to the ground truth verbatim (e.g. "12.0" becomes "12"),
    /// so that chosen responses teach the exact answer format. Default false.
    /// </summary>
    public bool FixAnswers { get; init; }
    /// <summary>Seed of sampling and pair selection (each row derives its own from it). Default 0.</summary>
    public long Seed { get; init; }
    /// <summary>Whether an answer is right; default <see cref="AnswerJudge.IsCorrect"/>.</summary>
    public Func<string?, string, bool>? Judge { get; init; }
    /// <summary>Console progress bar (Spectre.Console). Default false.</summary>
    public bool ShowProgress { get; init; }
    /// <summary>Receives progress after every row.</summary>
    public IProgress<PairJobProgress>? Progress { get; init; }
    /// <summary>Stops between rows (and inside generation); finished rows stay in the output.</summary>
    public CancellationToken CancellationToken { get; init; }
}

/// <summary>
/// MMPR's correctness-based pipeline: for each question with a ground truth, sample K chain-of-thought answers
/// (the instruction asks for a last line "Final answer: ..."; or K direct answers, see
/// <see cref="CorrectnessPipelineOptions.AnswerMode"/>), extract and judge each answer, and pair every
/// correct response (chosen) with every incorrect one (rejected). Pairs whose chosen response is contained in the
/// rejected one are skipped; at most N pairs per question are kept. Responses without a readable answer are kept
/// apart as format-failure negatives.
/// </summary>
public static class CorrectnessPairPipeline
{
    /// <summary>Runs the pipeline over <paramref name="rows"/> with <paramref name="model"/> as the generator.</summary>
    public static PairConstructionStatistics Run(VisionLanguageModel model, IReadOnlyList<PairSource> rows, CorrectnessPipelineOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.OutputPath))
            throw new ArgumentException("CorrectnessPipelineOptions.OutputPath is required (it is also what makes a rerun resume).");
        if (options.SamplesPerQuestion < 2)
            throw new ArgumentException($"CorrectnessPipelineOptions.SamplesPerQuestion must be at least 2, not {options.SamplesPerQuestion}.");
        if (options.MaxPairsPerQuestion < 1)
            throw new ArgumentException($"CorrectnessPipelineOptions.MaxPairsPerQuestion must be at least 1, not {options.MaxPairsPerQuestion}.");
        foreach (var row in rows)
            if (string.IsNullOrWhiteSpace(row.GroundTruth))
                throw new BadRowException(row.RowIndex, BadRowReason.EmptyText, "the correctness pipeline needs a ground-truth answer");
        var judge = options.Judge ?? AnswerJudge.IsCorrect;
        var generator = model.CreateGenerator();
        var settings = PairJobSettings.Create("correctness", model, new JsonObject
        {
            ["samples_per_question"] = options.SamplesPerQuestion, ["max_pairs_per_question"] = options.MaxPairsPerQuestion,
            ["fix_answers"] = options.FixAnswers, ["seed"] = options.Seed, ["sampling"] = PairJobSettings.Generation(options.Sampling),
            // A delegate cannot be compared; the default judge can.
            ["judge"] = options.Judge is null ? "default" : "custom",
        });
        // Written only for Direct, so that chain-of-thought jobs begun before the option existed still resume.
        if (options.AnswerMode != AnswerMode.ChainOfThought)
            settings["answer_mode"] = options.AnswerMode.ToString();
        return PairJobRunner.Run(rows, options.OutputPath, settings, options.ShowProgress, options.Progress, options.CancellationToken,
            (row, onToken) => Process(model, generator, row, options, judge, onToken), "correctness pairs");
    }

    private static (IEnumerable<JsonObject>, JsonObject) Process(VisionLanguageModel model, VisionLanguageGenerator generator, PairSource row,
        CorrectnessPipelineOptions options, Func<string?, string, bool> judge, Action<GeneratedToken> onToken)
    {
        long seed = PairJobRunner.RowSeed(options.Seed, row.SeedKey);
        var prompt = ReasoningPrompts.Apply(row.Question, options.AnswerMode);
        // One request of K samples: the images are decoded, tiled and encoded once and the prompt prefilled once; the
        // samples are the very tokens K copies of the request would give (GenerationRequest.Samples).
        var request = model.Request(row.Images, prompt, row.RowIndex) with { Samples = options.SamplesPerQuestion };
        List<GenerationResult> samples;
        try
        {
            samples = generator.Generate([request], options.Sampling with { Seed = seed }, onToken, options.CancellationToken).ToList();
        }
        finally
        {
            request.Tiles?.Dispose();
        }

        var correct = new List<string>();
        var wrong = new List<string>();
        var lines = new List<JsonObject>();
        int formatFailures = 0;
        foreach (var text in samples.Select(s => s.Text.Trim()).Distinct(StringComparer.Ordinal))
        {
            var extracted = AnswerExtractor.Extract(text, options.AnswerMode);
            if (!extracted.Succeeded)
            {
                formatFailures++;
                var failure = PairJobRunner.BaseRecord(row, "format_failure");
                failure["response"] = text;
                failure["failure"] = extracted.FormatFailure;
                lines.Add(failure);
            }
            else if (judge(extracted.Answer, row.GroundTruth!))
                correct.Add(options.FixAnswers ? FixAnswer(text, row.GroundTruth!, options.AnswerMode) : text);
            else
                wrong.Add(text);
        }

        var candidates = CandidatePairs(correct, wrong, options.AnswerMode, out int skipped);
        if (candidates.Count > options.MaxPairsPerQuestion)
        {
            var shuffled = candidates.ToArray();
            new Random((int)(seed & int.MaxValue)).Shuffle(shuffled);
            candidates = shuffled.Take(options.MaxPairsPerQuestion).ToList();
        }
        foreach (var (chosen, rejected) in candidates)
        {
            var pair = PairJobRunner.BaseRecord(row, "pair");
            pair["chosen"] = chosen;
            pair["rejected"] = rejected;
            lines.Add(pair);
        }
        var counts = new JsonObject
        {
            ["pairs"] = candidates.Count,
            ["correct"] = correct.Count,
            ["wrong"] = wrong.Count,
            ["format_failures"] = formatFailures,
            ["skipped_substring"] = skipped,
            ["all_correct"] = wrong.Count == 0 && correct.Count > 0 ? 1 : 0,
            ["all_wrong"] = correct.Count == 0 ? 1 : 0,
        };
        return (lines, counts);
    }

    /// <summary>
    /// Every correct response paired with every wrong one, each correct text once (fixed answers can make two correct
    /// samples the same text: "12.0" and "12" both become "12"). A wrong chain that quotes the whole right one is not
    /// worse than it, so such pairs are skipped (MMPR's rule, counted in <paramref name="skipped"/>); a wrong direct
    /// answer that contains the right one ("12" and "1") is simply another answer and is kept.
    /// </summary>
    internal static List<(string Chosen, string Rejected)> CandidatePairs(IEnumerable<string> correct, IReadOnlyList<string> wrong,
        AnswerMode mode, out int skipped)
    {
        var candidates = new List<(string Chosen, string Rejected)>();
        skipped = 0;
        foreach (var c in correct.Distinct(StringComparer.Ordinal))
            foreach (var r in wrong)
            {
                if (mode == AnswerMode.ChainOfThought && r.Contains(c, StringComparison.Ordinal))
                    skipped++;
                else
                    candidates.Add((c, r));
            }
        return candidates;
    }

    /// <summary>
    /// A correct response with its answer written as <paramref name="groundTruth"/>: in chain-of-thought mode the text
    /// after the last "Final answer:" (up to the end of its line) is replaced; a direct response is the answer alone, so
    /// it becomes the ground truth.
    /// </summary>
    internal static string FixAnswer(string response, string groundTruth, AnswerMode mode = AnswerMode.ChainOfThought)
    {
        if (mode == AnswerMode.Direct)
            return groundTruth.Trim();
        int at = response.LastIndexOf("Final answer:", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
            return response;
        int start = at + "Final answer:".Length;
        int end = response.IndexOfAny(['\r', '\n'], start);
        return response[..start] + " " + groundTruth + (end < 0 ? "" : response[end..]);
    }
}
