namespace Microsoft.ML.Preference.Data.Synthetic;

/// <summary>The task families of the synthetic visual-reasoning data set.</summary>
public enum SyntheticTaskFamily
{
    /// <summary>"counting": how many shapes of a given colour (one to four big shapes on a 2×2 grid).</summary>
    Counting,
    /// <summary>"bar-comparison": which of two bars is taller (multiple choice, A or B).</summary>
    BarComparison,
    /// <summary>"arithmetic": the sum or difference of two single digits drawn in the image.</summary>
    Arithmetic,
    /// <summary>"rectangle": the perimeter or area of a rectangle whose side lengths are drawn as digits.</summary>
    Rectangle,
}

/// <summary>The split an item belongs to.</summary>
public enum SyntheticSplit
{
    /// <summary>The training split.</summary>
    Train,
    /// <summary>The test split: its items' contents never occur in the training split, for any seed.</summary>
    Test,
}

/// <summary>Settings of <see cref="SyntheticReasoningGenerator.Generate"/>.</summary>
public sealed class SyntheticReasoningOptions
{
    /// <summary>Folder the PNG images are written to (under <c>images/</c>); created when missing.</summary>
    public string OutputFolder { get; set; } = "";

    /// <summary>Items in the training split.</summary>
    public int TrainCount { get; set; } = 1000;

    /// <summary>Items in the test split.</summary>
    public int TestCount { get; set; } = 200;

    /// <summary>Seed of the draw: the same seed and settings give the same items and the same image bytes.</summary>
    public int Seed { get; set; }

    /// <summary>Side of the square images in pixels (56 or 112 suit 56-pixel tiles); at least 28.</summary>
    public int ImageSize { get; set; } = 56;

    /// <summary>The families drawn, in turn (each split cycles through them, then is shuffled).</summary>
    public IReadOnlyList<SyntheticTaskFamily> Families { get; set; } = SyntheticReasoningGenerator.AllFamilies;

    /// <summary>A copy of these options.</summary>
    public SyntheticReasoningOptions Clone() => new()
    {
        OutputFolder = OutputFolder, TrainCount = TrainCount, TestCount = TestCount, Seed = Seed, ImageSize = ImageSize,
        Families = Families?.ToArray()!,
    };
}
