using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Evaluation;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>Settings of the correctness-based pipeline (MMPR's pipeline for questions with a ground truth).</summary>
public sealed record CorrectnessPipelineOptions
{
    /// <summary>Where pairs are appended (jsonl); rerunning with the same file resumes. Required.</summary>
    public string OutputPath { get; init; } = "";
    /// <summary>
    /// Samples per question. Default 32, MMPR's <c>--num-return-sequences</c> (internvl_chat/tools/reasoning_data_pipeline/
    /// mmpr_data_pipeline_correctness.py in OpenGVLab/InternVL).
    /// </summary>
    public int SamplesPerQuestion { get; init; } = 32;
    /// <summary>
    /// The instruction the samples are drawn with, and how their answers are read: <see cref="AnswerMode.ChainOfThought"/>
    /// (the paper's pipeline; the answer is the last "Final answer:" line) or <see cref="AnswerMode.Direct"/> (the whole
    /// short response is the answer), whose pairs keep a model's direct answers right while it learns to reason. Either
    /// way a pair's prompt is the prompt its responses were sampled with, instruction included. Default ChainOfThought.
    /// </summary>
    public AnswerMode AnswerMode { get; init; } = AnswerMode.ChainOfThought;
    /// <summary>
    /// The template each question is put into before sampling (after its known instructions are stripped, as MMPR
    /// does); the pairs store the result as their prompt. Default <see cref="InstructionTemplate.Mmpr"/>, MMPR's own.
    /// </summary>
    public InstructionTemplate Instructions { get; init; } = InstructionTemplate.Default;
    /// <summary>
    /// Sampling of the responses. Default temperature 0.7, top-k 50, top-p 1.0, 4096 new tokens: MMPR's
    /// <c>--temperature</c>, <c>--top-k</c>, <c>--top-p</c> and <c>--max-new-tokens</c>
    /// (internvl_chat/tools/reasoning_data_pipeline/mmpr_data_pipeline_correctness.py).
    /// </summary>
    public GenerationOptions Sampling { get; init; } = new() { Temperature = 0.7, TopK = 50, TopP = 1.0, MaxNewTokens = 4096 };
    /// <summary>
    /// Most pairs kept per question and rule (a seeded sample when there are more, repeated pairs then dropped). Default
    /// 15, MMPR's <c>--num-pairs-per-key</c> (internvl_chat/tools/reasoning_data_pipeline/mmpr_data_pipeline_correctness_postprocess.py).
    /// </summary>
    public int MaxPairsPerQuestion { get; init; } = 15;
    /// <summary>
    /// The cap that replaces <see cref="MaxPairsPerQuestion"/> (when smaller) on a large input: MMPR's postprocess keeps
    /// at most 3 pairs per question when its file of sampled responses has more than 500,000 lines
    /// (mmpr_data_pipeline_correctness_postprocess.py); here that file's lines are questions × <see cref="SamplesPerQuestion"/>
    /// of the whole input (all shards). Default 3; null keeps <see cref="MaxPairsPerQuestion"/> at every size.
    /// </summary>
    public int? LargeInputMaxPairsPerQuestion { get; init; } = 3;
    /// <summary>Sampled responses (questions × samples) above which <see cref="LargeInputMaxPairsPerQuestion"/> applies. Default 500,000 (MMPR's).</summary>
    public long LargeInputResponses { get; init; } = 500_000;
    /// <summary>
    /// Which candidate pairs the containment filter drops. Default <see cref="PairContainmentFilter.ExtractedAnswer"/>,
    /// MMPR's rule (<c>build_pairs_based_on_pos_neg</c> in mmpr_data_pipeline_correctness_postprocess.py).
    /// </summary>
    public PairContainmentFilter Containment { get; init; } = PairContainmentFilter.ExtractedAnswer;
    /// <summary>
    /// Also pair correct responses with format failures (responses whose answer cannot be read), as MMPR's postprocess
    /// does in its second pair file (<c>_pairs_vqa_format_rules</c>, mmpr_data_pipeline_correctness_postprocess.py), with
    /// their own cap of pairs per question. Those records carry <c>"rule": "format"</c>. Default true.
    /// </summary>
    public bool FormatFailurePairs { get; init; } = true;
    /// <summary>
    /// Read chain-of-thought answers with MMPR's parse rules (<c>extract_answer_from_mpo</c> in
    /// internvl_chat/tools/reasoning_data_pipeline/utils/accuracy_reward.py): the response holds at least two line breaks,
    /// non-empty reasoning before its last "Final answer:", and nothing on further lines after the answer. A response that
    /// breaks them is a format failure, so no chosen response is a bare final line. Default true; ignored in Direct mode.
    /// </summary>
    public bool RequireReasoning { get; init; } = true;
    /// <summary>
    /// Drop repeated sample texts before pairing (each distinct response counted once). MMPR pairs every sample with every
    /// other, draws its cap from those, and only then drops repeated pairs (<c>save_pairs</c> in
    /// mmpr_data_pipeline_correctness_postprocess.py), so a response sampled often is more likely to be drawn. Default false
    /// (MMPR's).
    /// </summary>
    public bool DistinctResponsesFirst { get; init; }
    /// <summary>
    /// Rewrite the final answer line of correct responses to the ground truth verbatim (e.g. "12.0" becomes "12"),
    /// so that chosen responses teach the exact answer format. Default false.
    /// </summary>
    public bool FixAnswers { get; init; }
    /// <summary>Seed of sampling and pair selection (each row derives its own from it). Default 0.</summary>
    public long Seed { get; init; }
    /// <summary>Whether an answer is right; default <see cref="AnswerJudge.IsCorrect"/>.</summary>
    public Func<string?, string, bool>? Judge { get; init; }
    /// <summary>The part of the input this job builds (see <see cref="PairJobShard"/>). Default the whole input.</summary>
    public PairJobShard Shard { get; init; } = PairJobShard.Whole;
    /// <summary>Console progress bar (Spectre.Console). Default false.</summary>
    public bool ShowProgress { get; init; }
    /// <summary>Receives progress after every row.</summary>
    public IProgress<PairJobProgress>? Progress { get; init; }
    /// <summary>Stops between rows (and inside generation); finished rows stay in the output.</summary>
    public CancellationToken CancellationToken { get; init; }
}

/// <summary>Which candidate pairs of the correctness pipeline are dropped because the chosen one is inside the rejected one.</summary>
public enum PairContainmentFilter
{
    /// <summary>
    /// MMPR's: the chosen response's extracted answer, lower-cased, is contained in the rejected one's
    /// (<c>build_pairs_based_on_pos_neg</c> in internvl_chat/tools/reasoning_data_pipeline/mmpr_data_pipeline_correctness_postprocess.py).
    /// </summary>
    ExtractedAnswer,
    /// <summary>The whole chosen response is contained in the rejected one (chain of thought only): this package's earlier rule.</summary>
    ResponseText,
    /// <summary>No pair is dropped.</summary>
    None,
}

/// <summary>
/// MMPR's correctness-based pipeline: for each question with a ground truth, sample K chain-of-thought answers
/// (the instruction asks for a last line "Final answer: ..."; or K direct answers, see
/// <see cref="CorrectnessPipelineOptions.AnswerMode"/>), extract and judge each answer, and pair every
/// correct response (chosen) with every incorrect one (rejected). Pairs whose chosen response is contained in the
/// rejected one are skipped; at most N pairs per question are kept. Responses without a readable answer are kept
/// apart as format-failure negatives.
/// </summary>
internal static class CorrectnessPairPipeline
{
    /// <summary>The <c>rule</c> of a pair whose rejected response is a format failure.</summary>
    internal const string FormatRule = "format";

    /// <summary>Runs the pipeline over <paramref name="rows"/> (the shard's part of them) with <paramref name="model"/> as the generator.</summary>
    public static PairConstructionStatistics Run(VisionLanguageModel model, IReadOnlyList<PairSource> rows, CorrectnessPipelineOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.OutputPath))
            throw new ArgumentException("CorrectnessPipelineOptions.OutputPath is required (it is also what makes a rerun resume).");
        if (options.SamplesPerQuestion < 2)
            throw new ArgumentException($"CorrectnessPipelineOptions.SamplesPerQuestion must be at least 2, not {options.SamplesPerQuestion}.");
        if (options.MaxPairsPerQuestion < 1)
            throw new ArgumentException($"CorrectnessPipelineOptions.MaxPairsPerQuestion must be at least 1, not {options.MaxPairsPerQuestion}.");
        if (options.LargeInputMaxPairsPerQuestion is < 1)
            throw new ArgumentException($"CorrectnessPipelineOptions.LargeInputMaxPairsPerQuestion must be at least 1 (or null), not {options.LargeInputMaxPairsPerQuestion}.");
        foreach (var row in rows)
            if (string.IsNullOrWhiteSpace(row.GroundTruth))
                throw new BadRowException(row.RowIndex, BadRowReason.EmptyText, "the correctness pipeline needs a ground-truth answer");
        int cap = PairsPerQuestion(options, rows.Count);
        var judge = options.Judge ?? AnswerJudge.IsCorrect;
        var generator = model.CreateGenerator();
        var settings = PairJobSettings.Create("correctness", model, new JsonObject
        {
            ["samples_per_question"] = options.SamplesPerQuestion, ["max_pairs_per_question"] = options.MaxPairsPerQuestion,
            ["fix_answers"] = options.FixAnswers, ["seed"] = options.Seed, ["sampling"] = PairJobSettings.Generation(options.Sampling),
            // A delegate cannot be compared; the default judge can.
            ["judge"] = options.Judge is null ? "default" : "custom",
            ["pairs_per_question"] = cap, ["containment"] = options.Containment.ToString(), ["format_failure_pairs"] = options.FormatFailurePairs,
            ["require_reasoning"] = options.RequireReasoning, ["distinct_responses_first"] = options.DistinctResponsesFirst,
        });
        // Written only for Direct, so that chain-of-thought jobs begun before the option existed still resume.
        if (options.AnswerMode != AnswerMode.ChainOfThought)
            settings["answer_mode"] = options.AnswerMode.ToString();
        // Always written: files of earlier versions stored bare questions, so they must not be resumed into prompts.
        settings["instructions"] = options.Instructions.ToJson();
        // One run per job file: a second is refused naming the holder; a killed run's lock is taken over.
        using var jobLock = OutputLock.ForFile(options.OutputPath);
        if (jobLock.TakeOverNotice is { } notice && options.ShowProgress)
            Console.Error.WriteLine($"warning: {notice}");
        return PairJobRunner.Run(rows, options.OutputPath, settings, options.ShowProgress, options.Progress, options.CancellationToken,
            (row, onToken) => Process(model, generator, row, options, judge, cap, onToken), "correctness pairs", options.Shard);
    }

    /// <summary>The pairs kept per question and rule for an input of <paramref name="questions"/> (MMPR's rule, see <see cref="CorrectnessPipelineOptions.LargeInputMaxPairsPerQuestion"/>).</summary>
    internal static int PairsPerQuestion(CorrectnessPipelineOptions options, long questions) =>
        options.LargeInputMaxPairsPerQuestion is int large && questions * options.SamplesPerQuestion > options.LargeInputResponses
            ? Math.Min(options.MaxPairsPerQuestion, large)
            : options.MaxPairsPerQuestion;

    private static (IEnumerable<JsonObject>, JsonObject) Process(VisionLanguageModel model, VisionLanguageGenerator generator, PairSource row,
        CorrectnessPipelineOptions options, Func<string?, string, bool> judge, int cap, Action<GeneratedToken> onToken)
    {
        long seed = PairJobRunner.RowSeed(options.Seed, row.SeedKey);
        var prompt = options.Instructions.Apply(row.Question, options.AnswerMode);
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

        var texts = samples.Select(s => s.Text.Trim());
        if (options.DistinctResponsesFirst)
            texts = texts.Distinct(StringComparer.Ordinal);
        var correct = new List<AnsweredResponse>();
        var wrong = new List<AnsweredResponse>();
        var failures = new List<string>();
        var lines = new List<JsonObject>();
        var failureRecords = new HashSet<string>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            var extracted = AnswerExtractor.Extract(text, options.AnswerMode);
            var problem = extracted.FormatFailure
                ?? (options.RequireReasoning && options.AnswerMode == AnswerMode.ChainOfThought ? ReasoningProblem(text) : null);
            if (problem is not null)
            {
                failures.Add(text);
                if (failureRecords.Add(text))
                {
                    var failure = PairJobRunner.BaseRecord(row, prompt, "format_failure");
                    failure["response"] = text;
                    failure["failure"] = problem;
                    lines.Add(failure);
                }
            }
            else if (judge(extracted.Answer, row.GroundTruth!))
                correct.Add(new(options.FixAnswers ? FixAnswer(text, row.GroundTruth!, options.AnswerMode) : text, extracted.Answer!));
            else
                wrong.Add(new(text, extracted.Answer!));
        }

        var candidates = Draw(CandidatePairs(correct, wrong, options.AnswerMode, options.Containment, options.DistinctResponsesFirst, out int skipped),
            cap, new Random((int)(seed & int.MaxValue)));
        var formatCandidates = !options.FormatFailurePairs ? []
            : Draw(CandidatePairs(correct, [.. failures.Select(f => new AnsweredResponse(f, null))], options.AnswerMode, PairContainmentFilter.None,
                options.DistinctResponsesFirst, out _), cap, new Random((int)((seed ^ 0x2545F491) & int.MaxValue)));
        foreach (var (chosen, rejected, rule) in candidates.Select(c => (c.Chosen, c.Rejected, (string?)null))
            .Concat(formatCandidates.Select(c => (c.Chosen, c.Rejected, (string?)FormatRule))))
        {
            var pair = PairJobRunner.BaseRecord(row, prompt, "pair");
            pair["chosen"] = chosen;
            pair["rejected"] = rejected;
            if (rule is not null)
                pair["rule"] = rule;
            lines.Add(pair);
        }
        var counts = new JsonObject
        {
            ["pairs"] = candidates.Count + formatCandidates.Count,
            ["correct"] = correct.Count,
            ["wrong"] = wrong.Count,
            ["format_failures"] = failures.Count,
            ["skipped_substring"] = skipped,
            ["all_correct"] = wrong.Count == 0 && correct.Count > 0 ? 1 : 0,
            ["all_wrong"] = correct.Count == 0 ? 1 : 0,
        };
        if (formatCandidates.Count > 0)
            counts["format_pairs"] = formatCandidates.Count;
        return (lines, counts);
    }

    /// <summary>A judged response and the answer read from it (null for a format failure).</summary>
    internal sealed record AnsweredResponse(string Text, string? Answer);

    /// <summary>
    /// At most <paramref name="cap"/> of <paramref name="candidates"/>, a seeded sample when there are more, and each
    /// pair once: MMPR draws <c>random.sample(pairs, min(len, NUM_PAIRS_PER_KEY))</c> and <c>save_pairs</c> then keeps the
    /// distinct ones (mmpr_data_pipeline_correctness_postprocess.py).
    /// </summary>
    internal static List<(string Chosen, string Rejected)> Draw(List<(string Chosen, string Rejected)> candidates, int cap, Random random)
    {
        if (candidates.Count > cap)
        {
            var shuffled = candidates.ToArray();
            random.Shuffle(shuffled);
            candidates = shuffled.Take(cap).ToList();
        }
        return candidates.Distinct().ToList();
    }

    /// <summary>
    /// Why a chain-of-thought response breaks MMPR's parse rules (<c>extract_answer_from_mpo</c> in
    /// internvl_chat/tools/reasoning_data_pipeline/utils/accuracy_reward.py), or null when it keeps them: fewer than two
    /// line breaks, nothing but blank text before its last "Final answer:", or more lines after the answer.
    /// </summary>
    internal static string? ReasoningProblem(string response)
    {
        if (response.Count(c => c == '\n') < 2)
            return "no reasoning: fewer than two line breaks (MMPR's rule)";
        int at = response.LastIndexOf("final answer", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
            return null; // the extractor already named it
        if (response[..at].Trim().Length == 0)
            return "no reasoning before the final answer (MMPR's rule)";
        int colon = response.IndexOf(':', at);
        if (colon >= 0 && response[(colon + 1)..].Trim().Contains('\n'))
            return "the answer runs over more than one line (MMPR's rule)";
        return null;
    }

    /// <summary>
    /// Every correct response paired with every wrong one (each correct text once when <paramref name="distinct"/>: fixed
    /// answers can make two correct samples the same text), less those the <paramref name="containment"/> filter drops
    /// (counted in <paramref name="skipped"/>). MMPR's filter compares the answers: a wrong answer that contains the right
    /// one, case aside ("12" holds "1", "No, it is red" holds "red"), is not paired. The earlier filter compares the whole
    /// texts: a wrong chain that quotes the whole right one is not worse than it (chain of thought only).
    /// </summary>
    internal static List<(string Chosen, string Rejected)> CandidatePairs(IEnumerable<AnsweredResponse> correct, IReadOnlyList<AnsweredResponse> wrong,
        AnswerMode mode, PairContainmentFilter containment, bool distinct, out int skipped)
    {
        var candidates = new List<(string Chosen, string Rejected)>();
        skipped = 0;
        var chosen = distinct ? correct.DistinctBy(c => c.Text, StringComparer.Ordinal) : correct;
        foreach (var c in chosen)
            foreach (var r in wrong)
            {
                bool skip = containment switch
                {
                    PairContainmentFilter.ExtractedAnswer => c.Answer is not null && r.Answer is not null
                        && r.Answer.ToLowerInvariant().Contains(c.Answer.ToLowerInvariant(), StringComparison.Ordinal),
                    PairContainmentFilter.ResponseText => mode == AnswerMode.ChainOfThought && r.Text.Contains(c.Text, StringComparison.Ordinal),
                    _ => false,
                };
                if (skip)
                    skipped++;
                else
                    candidates.Add((c.Text, r.Text));
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
