using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Transformers;

namespace Microsoft.ML.Preference.Tests.Trainers;

public class MpoTransformerTests
{
    private static (MLContext, MpoTransformer, IDataView) Trained(ToyPreferenceData toy, LoraOptions? lora = null, bool merge = true)
    {
        var ml = new MLContext(seed: 1);
        var o = MpoTrainerLearningTests.Fast(toy);
        o.MaxSteps = 2;
        o.Lora = lora;
        o.MergeAdapterAfterTraining = merge;
        o.Generation = new GenerationOptions { MaxNewTokens = 12 };
        var data = ml.Data.LoadFromEnumerable(toy.Rows(8, seed: 1));
        return (ml, ml.Preference.Trainers.Mpo(o).Fit(data), data);
    }

    [Fact]
    public void TransformAddsResponseAndAnswerAndKeepsTheInputColumns()
    {
        using var toy = new ToyPreferenceData();
        var (ml, model, data) = Trained(toy);
        using var _ = model;
        var output = model.Transform(data);
        var lazy = Assert.IsType<LazyResponsesDataView>(output);
        Assert.Equal(0, lazy.RowsGenerated); // Transform returns at once: nothing is generated until a cursor reads Response
        // Spelled out: the names are the public contract that PreferenceColumnNames holds.
        Assert.Equal(["Image", "Prompt", "Chosen", "Rejected", "Response", "Answer"], output.Schema.Select(c => c.Name));
        Assert.Equal(output.Schema.Select(c => c.Name), model.GetOutputSchema(data.Schema).Select(c => c.Name));
        var responses = output.GetColumn<string>(PreferenceColumnNames.Response).ToList();
        var prompts = output.GetColumn<string>(PreferenceColumnNames.Prompt).ToList();
        Assert.Equal(8, responses.Count);
        Assert.Equal(8, lazy.RowsGenerated);
        Assert.Equal(responses, output.GetColumn<string>(PreferenceColumnNames.Response).ToList()); // a second cursor reads the cache
        Assert.Equal(8, lazy.RowsGenerated);
        Assert.Equal(output.GetColumn<string>(PreferenceColumnNames.Response).Select(r => AnswerExtractor.Extract(r, model.AnswerMode).Answer ?? ""),
            output.GetColumn<string>(PreferenceColumnNames.Answer));
        Assert.All(prompts, p => Assert.Equal("What colour is the square?", p));
        // Greedy decoding: the same rows give the same responses.
        Assert.Equal(responses, model.Transform(data).GetColumn<string>(PreferenceColumnNames.Response).ToList());

        // The estimator declares the same columns before training.
        // SchemaShape.Create is internal to ML.NET; its pipelines call it, so the test does too.
        var create = typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static, [typeof(DataViewSchema)])!;
        var inputShape = (SchemaShape)create.Invoke(null, [data.Schema])!;
        var shape = ml.Preference.Trainers.Mpo(MpoTrainerLearningTests.Fast(toy)).GetOutputSchema(inputShape);
        Assert.Contains(shape, c => c.Name == PreferenceColumnNames.Response);
        Assert.Contains(shape, c => c.Name == PreferenceColumnNames.Answer);
    }

    [Fact]
    public void SaveLoadRoundTripAnswersTheSameAndModelSaveSaysWhatToCall()
    {
        using var toy = new ToyPreferenceData();
        var (ml, model, data) = Trained(toy);
        using var _ = model;
        var dir = Path.Combine(toy.Root, "saved");
        model.Save(dir);
        Assert.True(File.Exists(Path.Combine(dir, "config.json")));
        Assert.True(File.Exists(Path.Combine(dir, "tokenizer.json")));
        using var loaded = MpoTransformer.Load(ml, dir);
        Assert.Equal(model.Generation.MaxNewTokens, loaded.Generation.MaxNewTokens);
        Assert.Equal("You are a helpful assistant.", loaded.Model.Prompts.SystemMessage);
        var image = toy.Rows(1, seed: 4)[0].Image;
        Assert.NotEqual("", model.Predict(image, "What colour is the square?").Response);
        Assert.Equal(model.Predict(image, "What colour is the square?").Response, loaded.Predict(image, "What colour is the square?").Response);
        Assert.Equal(model.Predict(image, "What colour is the square?"), loaded.CreatePredictionEngine().Predict(image, "What colour is the square?"));

        var e = Assert.ThrowsAny<Exception>(() => ml.Model.Save(model, data.Schema, Path.Combine(toy.Root, "model.zip")));
        var message = e.ToString();
        Assert.Contains("Save(directory)", message);
    }

    [Fact]
    public void AnUnmergedAdapterIsSavedInPeftFormatBesideItsBase()
    {
        using var toy = new ToyPreferenceData();
        var (ml, model, _) = Trained(toy, new LoraOptions { Rank = 4, Alpha = 8 }, merge: false);
        using var __ = model;
        Assert.NotNull(model.Adapter);
        var dir = Path.Combine(toy.Root, "adapter-only");
        model.Save(dir);
        Assert.True(File.Exists(Path.Combine(dir, "adapter", "adapter_config.json")));
        Assert.False(File.Exists(Path.Combine(dir, "model.safetensors")));
        using var loaded = MpoTransformer.Load(ml, dir);
        var image = toy.Rows(1, seed: 5)[0].Image;
        Assert.Equal(model.Predict(image, "What colour is the square?").Response, loaded.Predict(image, "What colour is the square?").Response);
    }
}
