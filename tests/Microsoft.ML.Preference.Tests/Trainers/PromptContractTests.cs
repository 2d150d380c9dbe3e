using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Tests.Data;
using Microsoft.ML.Preference.Trainers.Training;
using Microsoft.ML.Preference.Transformers;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>
/// One prompt contract from pair building to training to prediction: the README's flow (BuildCorrectnessPairs →
/// Trainers.Mpo(modelPath).Fit(result.Pairs) → Transform), with no prompt edited by hand, asks at prediction with the
/// very prompt tokens the pairs were trained on, for MMPR's instructions and for this package's.
/// </summary>
public sealed class PromptContractTests
{
    private const string Question = "What colour is the square?";

    [Fact]
    public void TheReadmeFlowPredictsOnThePromptTokensItTrainedOnForBothInstructionSets()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        // A generator taught to answer both templates' prompts in the "Final answer:" format, so that its samples make pairs.
        var modelPath = PairPipelineTests.TeachFormat(toy, ml, templates: InstructionTemplate.Known);
        var questions = PairPipelineTests.Questions(toy, ml, 4);

        foreach (var instructions in InstructionTemplate.Known)
        {
            // The README's snippet (sampling shortened for a tiny model; MMPR's template is the pipeline's default).
            IDataView pairs;
            using (var generator = VisionLanguageModel.Load(modelPath, systemMessage: "You are a helpful assistant."))
            {
                var result = ml.Preference.Data.BuildCorrectnessPairs(questions, generator, new CorrectnessPipelineOptions
                {
                    OutputPath = Path.Combine(toy.Root, $"pairs-{instructions.Name}.jsonl"), SamplesPerQuestion = 8,
                    Instructions = instructions, Sampling = new GenerationOptions { Temperature = 0.9, MaxNewTokens = 40 },
                });
                Assert.True(result.Statistics.Pairs > 0, result.Statistics.ToString());
                pairs = result.Pairs;
            }
            using var model = ml.Preference.Trainers.Mpo(modelPath).Fit(pairs);
            Assert.Equal(instructions, model.Instructions);

            // The prompt ids every pair was trained on, by the trainer's own row preparation.
            var rows = ml.Data.CreateEnumerable<GeneratedPairRow>(pairs, reuseRowObject: false).ToList();
            var preparer = new PreferenceRowPreparer(model.Model);
            var trained = rows.Select((p, i) =>
            {
                var pair = preparer.Prepare(new PreferenceExample(i, [new ImageSource.FromFile(p.Image[0])], p.Prompt, p.Chosen, p.Rejected)).Pair;
                return (p.Image[0], Ids: pair.Chosen.InputIds.Take(pair.PromptLength).ToArray());
            }).ToList();

            // The prompt ids Transform generates from, as the model receives them.
            var asked = new List<int[]>();
            model.Model.AnswerRequestObserver = r => asked.Add(r.PromptIds.ToArray());
            model.Generation = new GenerationOptions { MaxNewTokens = 2 };
            // Transform is lazy: reading the Response column is what generates.
            _ = model.Transform(questions).GetColumn<string>(PreferenceColumnNames.Response).ToList();
            var images = ml.Data.CreateEnumerable<PairPipelineTests.QuestionRow>(questions, reuseRowObject: false).Select(q => q.Image).ToList();
            Assert.Equal(images.Count, asked.Count);

            foreach (var (image, ids) in trained)
                Assert.Equal(ids, asked[images.IndexOf(image)]);
            // The instruction is in those tokens, once: the pair's prompt is the sampled one, and prediction did not add another.
            var text = model.Model.Tokenizer.Decode(trained[0].Ids);
            var instruction = instructions.ChainOfThought.Replace(InstructionTemplate.QuestionSlot, "").Trim();
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, System.Text.RegularExpressions.Regex.Escape(instruction)));
            Assert.Equal(instructions.Apply(Question, AnswerMode.ChainOfThought), rows[0].Prompt);

            // The check can fail: asked with the other template, the same question gives other ids.
            model.Instructions = InstructionTemplate.Known.First(t => t != instructions);
            asked.Clear();
            // Transform is lazy: reading the Response column is what generates.
            _ = model.Transform(questions).GetColumn<string>(PreferenceColumnNames.Response).ToList();
            Assert.NotEqual(trained[0].Ids, asked[images.IndexOf(trained[0].Item1)]);

            // The template is saved with the model and read back.
            model.Instructions = instructions;
            var saved = Path.Combine(toy.Root, "saved-" + instructions.Name);
            model.Save(saved);
            using var loaded = MpoTransformer.Load(ml, saved);
            Assert.Equal(instructions, loaded.Instructions);
        }
    }
}
