using Microsoft.ML.Preference.Data.Synthetic;

namespace Microsoft.ML.Preference;

public sealed partial class PreferenceData
{
    /// <summary>
    /// The synthetic visual-reasoning data set (counting, bar comparison, arithmetic, rectangle perimeter/area):
    /// images are written under <paramref name="folder"/>, and each split is a data view with the text columns
    /// Image (the PNG's full path), Prompt (the question), AnswerGt (the ground truth), Rationale (a correct
    /// chain of thought ending in "Final answer: X") and Family. Deterministic by seed; the test split's contents
    /// never occur in a training split. See <see cref="SyntheticReasoningGenerator"/> for the items themselves.
    /// </summary>
    /// <param name="folder">Folder the images are written to (created when missing).</param>
    /// <param name="trainCount">Rows of the training split.</param>
    /// <param name="testCount">Rows of the test split.</param>
    /// <param name="seed">Seed of the draw.</param>
    /// <param name="options">
    /// Further settings (families, image size); its OutputFolder, TrainCount, TestCount and Seed are replaced by the
    /// arguments above. The caller's object is not changed.
    /// </param>
    public (IDataView Train, IDataView Test) LoadSyntheticReasoning(string folder, int trainCount, int testCount, int seed = 0,
        SyntheticReasoningOptions? options = null)
    {
        var settings = (options ?? new SyntheticReasoningOptions()).Clone();
        settings.OutputFolder = folder;
        settings.TrainCount = trainCount;
        settings.TestCount = testCount;
        settings.Seed = seed;
        var set = SyntheticReasoningGenerator.Generate(settings);
        return (Context.Data.LoadFromEnumerable(set.Train.Select(i => i.ToRow()).ToList()),
            Context.Data.LoadFromEnumerable(set.Test.Select(i => i.ToRow()).ToList()));
    }
}
