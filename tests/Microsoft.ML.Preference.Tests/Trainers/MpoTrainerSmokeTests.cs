using Microsoft.ML.Preference.Trainers;

namespace Microsoft.ML.Preference.Tests.Trainers;

public class MpoTrainerSmokeTests
{
    [Fact]
    public void TrainsAFewSteps()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(16, seed: 1));
        var trainer = ml.Preference.Trainers.Mpo(new MpoTrainer.Options
        {
            ModelPath = toy.ModelPath, BatchSize = 4, MaxSteps = 3, LearningRate = 1e-3, ShowProgress = false,
        });
        using var model = trainer.Fit(data);
        Assert.Equal(3, model.TrainingHistory.Count);
        Assert.All(model.TrainingHistory, m => Assert.True(double.IsFinite(m["loss"])));
    }
}
