// MPO in an ML.NET program: teach a small vision-language model, let it write its own preference pairs, train it
// with MPO, and compare Direct and chain-of-thought accuracy. `mpo quickstart` is the same flow with a report.
using Microsoft.ML;
using Microsoft.ML.Preference;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Data.Synthetic;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Losses;

var mlContext = new MLContext(seed: 0);
var folder = args.Length > 0 ? args[0] : "reasoning-with-mpo";

// 1. Data: synthetic visual questions with rationales (Image, Prompt, AnswerGt, Rationale, Family).
var data = SyntheticReasoningGenerator.Generate(new SyntheticReasoningOptions { OutputFolder = Path.Combine(folder, "data"), TrainCount = 400, TestCount = 100 });
IDataView test = mlContext.Data.LoadFromEnumerable(data.Test.Select(i => i.ToRow()));

// 2. A tiny InternVL model (your own would be an InternVL2 folder), taught the tasks by SFT on rationales, asked with
//    MMPR's chain-of-thought prompt: the template the pair pipeline samples with by default.
var instructions = InstructionTemplate.Default;
var modelPath = Path.Combine(folder, "model");
TinyInternVLFactory.Create(modelPath, data.Train.SelectMany(i => new[] { instructions.Apply(i.Question, AnswerMode.ChainOfThought), i.Rationale }),
    new TinyInternVLOptions { Hidden = 96, Layers = 3, VisionHidden = 64, Merges = 1000 });
var rationales = mlContext.Data.LoadFromEnumerable(data.Train.Select(i => new Pair(i.ImagePath,
    instructions.Apply(i.Question, AnswerMode.ChainOfThought), i.Rationale, SyntheticReasoningGenerator.WrongRationales(i)[0])));
using var baseModel = mlContext.Preference.Trainers.Mpo(new MpoTrainer.Options
{
    ModelPath = modelPath, Loss = PreferenceLossOptions.Single(PreferenceLossType.Sft), NumberOfEpochs = 6, LearningRate = 2e-3,
    FreezeVision = false, SystemMessage = "You are a helpful assistant.",
    WarmupRatio = 0.1, WeightDecay = 0, DType = "float32", GradientCheckpointing = false, VisionDropPathRate = null, // a tiny model: float32, no drop path
}).Fit(rationales);
baseModel.Save(Path.Combine(folder, "base"));

// 3. Preference pairs from the model's own samples: correct answers chosen, incorrect ones rejected. Each pair's
//    Prompt is the prompt its responses were sampled with, so it is trained on as it is.
var questions = mlContext.Data.LoadFromEnumerable(data.Train.Take(200).Select(i => i.ToRow()));
var pairs = mlContext.Preference.Data.BuildCorrectnessPairs(questions, baseModel.Model, new CorrectnessPipelineOptions
{
    OutputPath = Path.Combine(folder, "pairs.jsonl"), SamplesPerQuestion = 6,
    Sampling = new GenerationOptions { Temperature = 0.5, MaxNewTokens = 48 },
});
Console.WriteLine(pairs.Statistics);

// 4. MPO from the base: sigmoid 0.8 + bco_pair 0.2 + sft 1.0, beta 0.1. The trained model asks with the template its
//    training prompts carry.
using var mpo = mlContext.Preference.Trainers.Mpo(new MpoTrainer.Options
{
    ModelPath = Path.Combine(folder, "base"), NumberOfEpochs = 2, LearningRate = 5e-4, FreezeVision = false,
    SystemMessage = "You are a helpful assistant.", Generation = new GenerationOptions { MaxNewTokens = 48 },
    WarmupRatio = 0.1, WeightDecay = 0, DType = "float32", GradientCheckpointing = false, VisionDropPathRate = null,
}).Fit(pairs.Pairs);

// 5. Direct vs CoT accuracy on held-out questions.
foreach (var mode in new[] { AnswerMode.Direct, AnswerMode.ChainOfThought })
{
    mpo.AnswerMode = mode;
    var metrics = mlContext.Preference.Evaluation.EvaluateAccuracy(mpo.Transform(test), PreferenceColumnNames.Answer, PreferenceColumnNames.AnswerGt, PreferenceColumnNames.Family);
    Console.WriteLine($"MPO {mode}: {metrics.Accuracy:P1} ({metrics.Correct}/{metrics.Total})");
}

internal sealed record Pair(string Image, string Prompt, string Chosen, string Rejected);
