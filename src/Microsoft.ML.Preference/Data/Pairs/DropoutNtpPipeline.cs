using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>Settings of the DropoutNTP pipeline (MMPR's pipeline for questions without a ground truth).</summary>
public sealed record DropoutNtpOptions
{
    /// <summary>Where pairs are appended (jsonl); rerunning with the same file resumes. Required.</summary>
    public string OutputPath { get; init; } = "";
    /// <summary>Fraction of the response's words kept as the prefix. Default 0.5 (the paper's).</summary>
    public double KeepRatio { get; init; } = 0.5;
    /// <summary>
    /// Decoding of missing responses (with the image) and of continuations (without). Default sampling as MMPR samples
    /// its continuations: temperature 0.7, top-k 50, top-p 1.0, 2048 new tokens (<c>--temperature</c>, <c>--top-k</c>,
    /// <c>--top-p</c>, <c>--max-new-tokens</c> of internvl_chat/tools/reasoning_data_pipeline/mmpr_data_pipeline_dropout_ntp.py
    /// in OpenGVLab/InternVL). Each row samples with its own seed, derived from <see cref="Seed"/>.
    /// </summary>
    public GenerationOptions Generation { get; init; } = new() { Temperature = 0.7, TopK = 50, TopP = 1.0, MaxNewTokens = 2048 };
    /// <summary>
    /// The template the questions are put into (chain of thought) before the responses are generated and continued, or
    /// null to use each question as given, as MMPR's mmpr_data_pipeline_dropout_ntp.py does. Either way a pair's prompt
    /// is the prompt its chosen response answers; set it when the rows' existing responses, or the ones to generate,
    /// belong to that template. Default null.
    /// </summary>
    public InstructionTemplate? Instructions { get; init; }
    /// <summary>Seed of sampling (each row derives its own). Default 0.</summary>
    public long Seed { get; init; }
    /// <summary>The part of the input this job builds (see <see cref="PairJobShard"/>). Default the whole input.</summary>
    public PairJobShard Shard { get; init; } = PairJobShard.Whole;
    /// <summary>Console progress bar. Default false.</summary>
    public bool ShowProgress { get; init; }
    /// <summary>Receives progress after every row.</summary>
    public IProgress<PairJobProgress>? Progress { get; init; }
    /// <summary>Stops between rows (and inside generation); finished rows stay in the output.</summary>
    public CancellationToken CancellationToken { get; init; }
}

/// <summary>
/// MMPR's DropoutNTP: the model's own response (generated with the image when the row has none) is the chosen
/// answer; its first half (by words) is continued by the same model WITHOUT the image — no image tokens anywhere in
/// that prompt — and prefix + continuation is the rejected answer: what the model says when it cannot see.
/// </summary>
internal static class DropoutNtpPipeline
{
    /// <summary>Runs the pipeline over <paramref name="rows"/> with <paramref name="model"/>.</summary>
    public static PairConstructionStatistics Run(VisionLanguageModel model, IReadOnlyList<PairSource> rows, DropoutNtpOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.OutputPath))
            throw new ArgumentException("DropoutNtpOptions.OutputPath is required (it is also what makes a rerun resume).");
        if (!(options.KeepRatio > 0 && options.KeepRatio < 1))
            throw new ArgumentException($"DropoutNtpOptions.KeepRatio must be in (0, 1), not {options.KeepRatio}.");
        var generator = model.CreateGenerator();
        var settings = PairJobSettings.Create("dropout-ntp", model, new JsonObject
        {
            ["keep_ratio"] = options.KeepRatio, ["seed"] = options.Seed, ["generation"] = PairJobSettings.Generation(options.Generation),
        });
        // Written only with a template, so that jobs of earlier versions (questions as given) still resume.
        if (options.Instructions is not null)
            settings["instructions"] = options.Instructions.ToJson();
        // One run per job file: a second is refused naming the holder; a killed run's lock is taken over.
        using var jobLock = OutputLock.ForFile(options.OutputPath);
        if (jobLock.TakeOverNotice is { } notice && options.ShowProgress)
            Console.Error.WriteLine($"warning: {notice}");
        return PairJobRunner.Run(rows, options.OutputPath, settings, options.ShowProgress, options.Progress, options.CancellationToken,
            (row, onToken) => Process(model, generator, row, options, onToken), "DropoutNTP pairs", options.Shard);
    }

    private static (IEnumerable<JsonObject>, JsonObject) Process(VisionLanguageModel model, VisionLanguageGenerator generator, PairSource row,
        DropoutNtpOptions options, Action<GeneratedToken> onToken)
    {
        long seed = PairJobRunner.RowSeed(options.Seed, row.SeedKey);
        var decoding = options.Generation with { Seed = seed };
        var prompt = options.Instructions?.Apply(row.Question, AnswerMode.ChainOfThought) ?? row.Question;
        string original = row.Response ?? "";
        if (string.IsNullOrWhiteSpace(original))
        {
            var request = model.Request(row.Images, prompt, row.RowIndex);
            try
            {
                original = generator.Generate([request], decoding, onToken, options.CancellationToken)[0].Text;
            }
            finally
            {
                request.Tiles?.Dispose();
            }
        }
        original = original.Trim();
        var prefix = Prefix(original, options.KeepRatio);
        var counts = new JsonObject { ["pairs"] = 0, ["identical"] = 0 };
        if (prefix.Length == 0 || prefix.Length == original.Length)
            return ([], counts); // too short to drop anything
        var continuation = generator.Generate([ContinuationRequest(model.Prompts, prompt, prefix)], decoding, onToken, options.CancellationToken)[0].Text;
        var rejected = (prefix + continuation).Trim();
        if (rejected == original)
        {
            counts["identical"] = 1;
            return ([], counts);
        }
        var pair = PairJobRunner.BaseRecord(row, prompt, "pair");
        pair["chosen"] = original;
        pair["rejected"] = rejected;
        pair["prefix"] = prefix;
        counts["pairs"] = 1;
        return ([pair], counts);
    }

    /// <summary>The first <paramref name="ratio"/> of the words (at least one, never all), with its original spacing.</summary>
    internal static string Prefix(string response, double ratio)
    {
        var words = System.Text.RegularExpressions.Regex.Matches(response, @"\S+");
        if (words.Count < 2)
            return "";
        int keep = Math.Clamp((int)Math.Floor(words.Count * ratio), 1, words.Count - 1);
        var last = words[keep - 1];
        return response[..(last.Index + last.Length)];
    }

    /// <summary>
    /// The text-only prompt that continues <paramref name="prefix"/>: the question with its &lt;image&gt; placeholders
    /// removed, the generation prompt, then the prefix as the start of the assistant's turn. No image token at all.
    /// </summary>
    internal static GenerationRequest ContinuationRequest(PromptBuilder prompts, string question, string prefix)
    {
        var textOnly = question.Replace(ImagePlaceholders.Placeholder, "", StringComparison.Ordinal).Trim();
        var ids = prompts.BuildPrompt(textOnly).InputIds.ToList();
        ids.AddRange(prompts.Encoder.Encode(prefix));
        return new GenerationRequest(ids);
    }
}
