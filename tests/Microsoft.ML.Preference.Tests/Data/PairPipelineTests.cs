using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Tests.Trainers;

namespace Microsoft.ML.Preference.Tests.Data;

/// <summary>
/// The MMPR pipelines on the toy colour task, with a tiny model first taught (SFT) to answer in the CoT format,
/// so that its samples are parsable and sometimes right, sometimes wrong.
/// </summary>
public class PairPipelineTests
{
    internal sealed class QuestionRow
    {
        public string Image { get; set; } = "";
        public string Prompt { get; set; } = "";
        public string AnswerGt { get; set; } = "";
    }

    /// <summary>
    /// A model that answers CoT prompts with a sentence and a final-answer line, and, with <paramref name="direct"/>, Direct
    /// prompts with the colour alone; asked with the prompts of each of <paramref name="templates"/> (default: the
    /// template the pipeline asks with by default).
    /// </summary>
    internal static string TeachFormat(ToyPreferenceData toy, MLContext ml, bool direct = false, IReadOnlyList<InstructionTemplate>? templates = null)
    {
        templates ??= [InstructionTemplate.Default];
        var rows = toy.Rows(32, seed: 21).SelectMany(r => templates.SelectMany(t => new[]
        {
            new ToyRow
            {
                Image = r.Image,
                Prompt = t.Apply(r.Prompt, AnswerMode.ChainOfThought),
                Chosen = r.Chosen + "\nFinal answer: " + ToyPreferenceData.ColourOf(r.Chosen),
                Rejected = r.Rejected,
            },
            new ToyRow { Image = r.Image, Prompt = t.Apply(r.Prompt, AnswerMode.Direct), Chosen = ToyPreferenceData.ColourOf(r.Chosen), Rejected = ToyPreferenceData.ColourOf(r.Rejected) },
        }.Take(direct ? 2 : 1)));
        var o = MpoTrainerLearningTests.Fast(toy);
        o.Loss = PreferenceLossOptions.Single(PreferenceLossType.Sft);
        o.NumberOfEpochs = 10;
        o.LearningRate = 3e-3;
        using var sft = ml.Preference.Trainers.Mpo(o).Fit(ml.Data.LoadFromEnumerable(rows));
        var folder = Path.Combine(toy.Root, direct ? "sft-both" : "sft");
        sft.Save(folder);
        return folder;
    }

    internal static IDataView Questions(ToyPreferenceData toy, MLContext ml, int count) =>
        ml.Data.LoadFromEnumerable(toy.Rows(count, seed: 31).Select(r => new QuestionRow
        {
            Image = r.Image, Prompt = r.Prompt, AnswerGt = ToyPreferenceData.ColourOf(r.Chosen),
        }));

    [Fact]
    public void CorrectnessPipelineMakesWellFormedPairsAndResumesToTheSameFile()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        using var model = VisionLanguageModel.Load(TeachFormat(toy, ml), systemMessage: "You are a helpful assistant.");
        var questions = Questions(toy, ml, 6);
        var options = new CorrectnessPipelineOptions
        {
            OutputPath = Path.Combine(toy.Root, "uninterrupted.jsonl"), SamplesPerQuestion = 6, MaxPairsPerQuestion = 4, Seed = 5,
            Sampling = new GenerationOptions { Temperature = 0.9, MaxNewTokens = 40 },
            Judge = (answer, truth) => string.Equals(answer?.Trim(), truth, StringComparison.OrdinalIgnoreCase),
            RequireReasoning = false, // the toy model reasons in one line, which MMPR's parse rule reads as no reasoning
        };
        var result = ml.Preference.Data.BuildCorrectnessPairs(questions, model, options);
        Assert.Equal(6, result.Statistics.Questions);
        Assert.True(result.Statistics.Pairs > 0, result.Statistics.ToString());
        var pairs = ml.Data.CreateEnumerable<GeneratedPairRow>(result.Pairs, reuseRowObject: false).ToList();
        Assert.Equal(result.Statistics.Pairs, pairs.Count);
        foreach (var p in pairs)
        {
            // The prompt the responses were sampled with, MMPR's instruction included, as MMPR's pipeline stores it.
            Assert.Equal(InstructionTemplate.Mmpr.Apply("What colour is the square?", AnswerMode.ChainOfThought), p.Prompt);
            Assert.Equal(p.AnswerGt, AnswerExtractor.Extract(p.Chosen).Answer, ignoreCase: true);
            Assert.NotEqual(p.AnswerGt, AnswerExtractor.Extract(p.Rejected).Answer!, StringComparer.OrdinalIgnoreCase);
            Assert.DoesNotContain(p.Chosen, p.Rejected);
            Assert.Single(p.Image);
        }
        Assert.All(pairs.GroupBy(p => p.Prompt + p.Image[0] + p.AnswerGt), g => Assert.True(g.Count() <= 4 * 6));

        // Interrupted after two rows, then rerun: the same file as the uninterrupted run.
        using var cancel = new CancellationTokenSource();
        var interrupted = options with
        {
            OutputPath = Path.Combine(toy.Root, "interrupted.jsonl"), CancellationToken = cancel.Token,
            Progress = new Sync(p => { if (p.RowsDone == 2) cancel.Cancel(); }),
        };
        Assert.ThrowsAny<OperationCanceledException>(() => ml.Preference.Data.BuildCorrectnessPairs(questions, model, interrupted));
        var partial = File.ReadAllLines(interrupted.OutputPath);
        Assert.Equal(2, partial.Count(l => l.Contains("\"row_done\"")));
        var resumed = ml.Preference.Data.BuildCorrectnessPairs(questions, model, interrupted with { CancellationToken = default, Progress = null });
        Assert.Equal(File.ReadAllText(options.OutputPath), File.ReadAllText(interrupted.OutputPath));
        Assert.Equal(result.Statistics, resumed.Statistics);

        // The pairs in MMPR's layout, read back with LoadMmpr.
        var meta = ml.Preference.Data.SaveMmpr(result.Pairs, Path.Combine(toy.Root, "mmpr"), "toy_pairs");
        var reloaded = ml.Preference.Data.LoadMmpr(meta);
        Assert.Equal(pairs.Select(p => p.Chosen), reloaded.GetColumn<string>(PreferenceColumnNames.Chosen));
        Assert.Equal(result.Statistics, ml.Preference.Data.LoadPairs(options.OutputPath).Statistics);

        // The same questions with their images in another folder sample the same responses: seeds follow the file
        // names, not the folder (the quickstart's table does not depend on its output folder).
        var moved = Path.Combine(toy.Root, "moved");
        Directory.CreateDirectory(moved);
        var movedRows = ml.Data.CreateEnumerable<QuestionRow>(questions, reuseRowObject: false).Select(q =>
        {
            var copy = Path.Combine(moved, Path.GetFileName(q.Image));
            if (!File.Exists(copy))
                File.Copy(q.Image, copy);
            return new QuestionRow { Image = copy, Prompt = q.Prompt, AnswerGt = q.AnswerGt };
        }).ToList();
        var elsewhere = ml.Preference.Data.BuildCorrectnessPairs(ml.Data.LoadFromEnumerable(movedRows), model,
            options with { OutputPath = Path.Combine(toy.Root, "moved.jsonl") });
        var movedPairs = ml.Data.CreateEnumerable<GeneratedPairRow>(elsewhere.Pairs, reuseRowObject: false).ToList();
        Assert.Equal(pairs.Select(p => (p.Chosen, p.Rejected)), movedPairs.Select(p => (p.Chosen, p.Rejected)));

        // Resuming into a file written for other rows is refused by name, before any work, and the file is kept.
        var before = File.ReadAllText(options.OutputPath);
        var e = Assert.Throws<InvalidOperationException>(() => ml.Preference.Data.BuildCorrectnessPairs(Questions(toy, ml, 3), model, options));
        Assert.Contains(options.OutputPath, e.Message);
        Assert.Contains("not in this input", e.Message);
        Assert.Equal(before, File.ReadAllText(options.OutputPath));

        // So is resuming it with other sampling settings (its rows would mix two runs), naming what changed.
        var hotter = Assert.Throws<InvalidOperationException>(() => ml.Preference.Data.BuildCorrectnessPairs(questions, model,
            options with { Sampling = options.Sampling with { Temperature = 0.5 } }));
        Assert.Contains(options.OutputPath, hotter.Message);
        Assert.Contains("sampling:", hotter.Message);
        var fewer = Assert.Throws<InvalidOperationException>(() => ml.Preference.Data.BuildCorrectnessPairs(questions, model, options with { MaxPairsPerQuestion = 1 }));
        Assert.Contains("max_pairs_per_question: 4 → 1", fewer.Message);
        // Another template would store other prompts beside these; and a job whose settings name no template was
        // written by a version that stored bare questions.
        var ours = Assert.Throws<InvalidOperationException>(() => ml.Preference.Data.BuildCorrectnessPairs(questions, model,
            options with { Instructions = InstructionTemplate.MlNet }));
        Assert.Contains("instructions: {\"name\":\"mmpr\"", ours.Message);
        var bare = Path.Combine(toy.Root, "bare-questions.jsonl");
        File.WriteAllLines(bare, File.ReadAllLines(options.OutputPath).Select(l =>
        {
            if (!l.Contains("\"job_settings\""))
                return l;
            var header = System.Text.Json.Nodes.JsonNode.Parse(l)!.AsObject();
            Assert.True(header["job_settings"]!.AsObject().Remove("instructions"));
            return header.ToJsonString();
        }));
        Assert.DoesNotContain("\"instructions\"", File.ReadLines(bare).First());
        var earlier = Assert.Throws<InvalidOperationException>(() => ml.Preference.Data.BuildCorrectnessPairs(questions, model, options with { OutputPath = bare }));
        Assert.Contains("instructions: (none) →", earlier.Message);
        Assert.Equal(before, File.ReadAllText(options.OutputPath));
        // A file without its settings line (an earlier version's) cannot be checked, so it is not resumed either.
        var legacy = Path.Combine(toy.Root, "legacy.jsonl");
        File.WriteAllLines(legacy, File.ReadAllLines(options.OutputPath).Where(l => !l.Contains("\"job_settings\"")));
        var old = Assert.Throws<InvalidOperationException>(() => ml.Preference.Data.BuildCorrectnessPairs(questions, model, options with { OutputPath = legacy }));
        Assert.Contains("no settings line", old.Message);
        Assert.Equal(result.Statistics, ml.Preference.Data.LoadPairs(legacy).Statistics);
    }

    [Fact]
    public void CorrectnessPipelineInDirectModeSamplesShortAnswersIntoAJobOfItsOwn()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        using var model = VisionLanguageModel.Load(TeachFormat(toy, ml, direct: true), systemMessage: "You are a helpful assistant.");
        var questions = Questions(toy, ml, 6);
        var options = new CorrectnessPipelineOptions
        {
            OutputPath = Path.Combine(toy.Root, "direct.jsonl"), SamplesPerQuestion = 6, MaxPairsPerQuestion = 4, Seed = 5,
            AnswerMode = AnswerMode.Direct, Sampling = new GenerationOptions { Temperature = 0.9, MaxNewTokens = 40 },
            Judge = (answer, truth) => string.Equals(answer?.Trim(), truth, StringComparison.OrdinalIgnoreCase),
        };
        var result = ml.Preference.Data.BuildCorrectnessPairs(questions, model, options);
        Assert.True(result.Statistics.Pairs > 0, result.Statistics.ToString());
        var pairs = ml.Data.CreateEnumerable<GeneratedPairRow>(result.Pairs, reuseRowObject: false).ToList();
        foreach (var p in pairs)
        {
            // Asked with the Direct instruction, the model answers with the colour alone: no reasoning, no marker.
            Assert.Equal(p.AnswerGt, p.Chosen, ignoreCase: true);
            Assert.DoesNotContain("Final answer", p.Rejected);
            Assert.NotEqual(p.AnswerGt, AnswerExtractor.Extract(p.Rejected, AnswerMode.Direct).Answer!, StringComparer.OrdinalIgnoreCase);
        }
        Assert.Contains("\"answer_mode\":\"Direct\"", File.ReadLines(options.OutputPath).First());

        // The job file cannot be resumed in the other mode (its rows would mix two prompts), and says why.
        var cot = Assert.Throws<InvalidOperationException>(() => ml.Preference.Data.BuildCorrectnessPairs(questions, model,
            options with { AnswerMode = AnswerMode.ChainOfThought }));
        Assert.Contains("answer_mode: \"Direct\" → (none)", cot.Message);
    }

    private static CorrectnessPairPipeline.AnsweredResponse R(string text, string? answer) => new(text, answer);

    [Fact]
    public void MmprsContainmentFilterComparesTheAnswersCaseAside()
    {
        var chain = "4 + 8 = 1?\nYes.\nFinal answer: 1";
        var pairs = CorrectnessPairPipeline.CandidatePairs([R(chain, "1"), R(chain, "1"), R("It is red.\nSo.\nFinal answer: red", "red")],
            [R("x\ny\nFinal answer: 12", "12"), R("x\ny\nFinal answer: 7", "7"), R("x\ny\nFinal answer: Dark RED", "Dark RED")],
            AnswerMode.ChainOfThought, PairContainmentFilter.ExtractedAnswer, distinct: false, out int skipped);
        // "1" is inside "12" (twice: the right chain was sampled twice), "red" inside "Dark RED": 3 skipped of 9.
        Assert.Equal(3, skipped);
        Assert.Equal(6, pairs.Count);
        Assert.Equal(2, pairs.Count(p => p == (chain, "x\ny\nFinal answer: 7")));   // repeats stay until the draw
        Assert.DoesNotContain(pairs, p => p.Rejected.EndsWith("12") && p.Chosen == chain);
        Assert.DoesNotContain(pairs, p => p.Rejected.EndsWith("Dark RED") && p.Chosen.EndsWith("red"));

        // In Direct mode the same rule applies to the short answers themselves.
        var direct = CorrectnessPairPipeline.CandidatePairs([R("1", "1")], [R("12", "12"), R("7", "7")], AnswerMode.Direct,
            PairContainmentFilter.ExtractedAnswer, distinct: false, out int skippedDirect);
        Assert.Equal([("1", "7")], direct);
        Assert.Equal(1, skippedDirect);
    }

    [Fact]
    public void TheWholeTextFilterSkipsQuotedChainsButKeepsDirectAnswersThatContainTheRightOne()
    {
        var chains = CorrectnessPairPipeline.CandidatePairs([R("Final answer: 1", "1"), R("Final answer: 1", "1")],
            [R("Final answer: 1\nFinal answer: 12", "12"), R("Final answer: 7", "7")], AnswerMode.ChainOfThought,
            PairContainmentFilter.ResponseText, distinct: true, out int skippedChains);
        Assert.Equal([("Final answer: 1", "Final answer: 7")], chains);
        Assert.Equal(1, skippedChains);

        var direct = CorrectnessPairPipeline.CandidatePairs([R("1", "1"), R("1", "1")], [R("12", "12"), R("7", "7")], AnswerMode.Direct,
            PairContainmentFilter.ResponseText, distinct: true, out int skippedDirect);
        Assert.Equal([("1", "12"), ("1", "7")], direct);
        Assert.Equal(0, skippedDirect);
        Assert.Equal(4, CorrectnessPairPipeline.CandidatePairs([R("1", "1"), R("1", "1")], [R("12", "12"), R("7", "7")], AnswerMode.Direct,
            PairContainmentFilter.None, distinct: false, out _).Count);
    }

    [Fact]
    public void TheDrawKeepsAtMostTheCapAndEachPairOnce()
    {
        var candidates = new List<(string, string)> { ("a", "x"), ("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("a", "x") };
        Assert.Equal([("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")], CorrectnessPairPipeline.Draw(candidates, 15, new Random(0)));
        for (int seed = 0; seed < 20; seed++)
        {
            var drawn = CorrectnessPairPipeline.Draw(candidates, 3, new Random(seed));
            Assert.InRange(drawn.Count, 1, 3);
            Assert.Equal(drawn.Count, drawn.Distinct().Count());
            Assert.All(drawn, d => Assert.Contains(d, candidates));
            Assert.Equal(drawn, CorrectnessPairPipeline.Draw(candidates, 3, new Random(seed)));
        }
    }

    [Theory]
    [InlineData("Final answer: 1", "fewer than two line breaks")]
    [InlineData("It is 1.\nFinal answer: 1", "fewer than two line breaks")]
    [InlineData("\n\nFinal answer: 1", "no reasoning before")]
    [InlineData("a\nb\nFinal answer: 1\nand more", "more than one line")]
    [InlineData("a\nb\nFinal answer: 1", null)]
    [InlineData("4 + 8 = 12\n\nFinal Answer: 12\n", null)]
    public void MmprsParseRulesRequireReasoningBeforeTheFinalLine(string response, string? problem)
    {
        var found = CorrectnessPairPipeline.ReasoningProblem(response);
        if (problem is null)
            Assert.Null(found);
        else
            Assert.Contains(problem, found);
    }

    [Fact]
    public void PairsPerQuestionDropToThreeAboveHalfAMillionSampledResponses()
    {
        var mmpr = new CorrectnessPipelineOptions();
        Assert.Equal((32, 15, 0.7, 50, 1.0, 4096), (mmpr.SamplesPerQuestion, mmpr.MaxPairsPerQuestion, mmpr.Sampling.Temperature, mmpr.Sampling.TopK,
            mmpr.Sampling.TopP, mmpr.Sampling.MaxNewTokens));
        Assert.Equal(15, CorrectnessPairPipeline.PairsPerQuestion(mmpr, 15_625));       // 500,000 responses: not above
        Assert.Equal(3, CorrectnessPairPipeline.PairsPerQuestion(mmpr, 15_626));
        Assert.Equal(2, CorrectnessPairPipeline.PairsPerQuestion(mmpr with { MaxPairsPerQuestion = 2 }, 1_000_000));
        Assert.Equal(15, CorrectnessPairPipeline.PairsPerQuestion(mmpr with { LargeInputMaxPairsPerQuestion = null }, 1_000_000));
        var ntp = new DropoutNtpOptions().Generation;
        Assert.Equal((0.7, 50, 1.0, 2048), (ntp.Temperature, ntp.TopK, ntp.TopP, ntp.MaxNewTokens));
    }

    [Fact]
    public void FixAnswerRewritesTheFinalLineOfAChainAndReplacesADirectAnswer()
    {
        Assert.Equal("4 + 8 = 12.0\nFinal answer: 12\n", CorrectnessPairPipeline.FixAnswer("4 + 8 = 12.0\nFinal answer: 12.0\n", "12"));
        Assert.Equal("no marker", CorrectnessPairPipeline.FixAnswer("no marker", "12"));
        Assert.Equal("12", CorrectnessPairPipeline.FixAnswer("12.0", " 12 ", AnswerMode.Direct));
    }

    [Fact]
    public void StatisticsNameEachPipelinesOwnCountOnlyWhenThereAreSome()
    {
        Assert.Equal("6 questions: 9 pairs, 1 all correct, 2 all wrong, 0 format failures",
            new PairConstructionStatistics(6, 1, 2, 9, 0, 0, 0).ToString());
        Assert.Equal("6 questions: 9 pairs, 1 all correct, 2 all wrong, 3 format failures, 4 pairs skipped (chosen within rejected)",
            new PairConstructionStatistics(6, 1, 2, 9, 3, 4, 0).ToString());
        Assert.Equal("6 questions: 5 pairs, 0 all correct, 0 all wrong, 0 format failures, 1 identical continuations",
            new PairConstructionStatistics(6, 0, 0, 5, 0, 0, 1).ToString());
    }

    [Fact]
    public void DropoutNtpContinuesTheFirstHalfWithoutTheImage()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        using var model = VisionLanguageModel.Load(TeachFormat(toy, ml), systemMessage: "You are a helpful assistant.");
        var result = ml.Preference.Data.BuildDropoutNtpPairs(Questions(toy, ml, 4), model, new DropoutNtpOptions
        {
            OutputPath = Path.Combine(toy.Root, "dropout.jsonl"), Generation = new GenerationOptions { MaxNewTokens = 40 },
        }, responseColumnName: null);
        Assert.Equal(4, result.Statistics.Questions);
        var pairs = ml.Data.CreateEnumerable<GeneratedPairRow>(result.Pairs, reuseRowObject: false).ToList();
        Assert.Equal(result.Statistics.Pairs, pairs.Count);
        Assert.Equal(4, result.Statistics.Pairs + result.Statistics.Identical);
        foreach (var p in pairs)
        {
            var prefix = DropoutNtpPipeline.Prefix(p.Chosen, 0.5);
            Assert.StartsWith(prefix, p.Rejected);
            Assert.NotEqual(p.Chosen, p.Rejected);
        }

        // The continuation prompt holds no image token at all, even when the question has a placeholder.
        var request = DropoutNtpPipeline.ContinuationRequest(model.Prompts, "<image>\nWhat colour is the square?", "The square");
        var special = model.Tokenizer.AddedTokens;
        foreach (var token in new[] { special.ImageContextId, special.ImageStartId, special.ImageEndId })
            Assert.DoesNotContain(token!.Value, request.PromptIds);
        Assert.Null(request.Tiles);
        Assert.EndsWith("The square", model.Tokenizer.Decode(request.PromptIds));
        Assert.Equal("one two", DropoutNtpPipeline.Prefix("one two three four", 0.5));
        Assert.Equal("a", DropoutNtpPipeline.Prefix("a  b c", 0.5));
    }

    private sealed class Sync(Action<PairJobProgress> report) : IProgress<PairJobProgress>
    {
        public void Report(PairJobProgress value) => report(value);
    }
}
