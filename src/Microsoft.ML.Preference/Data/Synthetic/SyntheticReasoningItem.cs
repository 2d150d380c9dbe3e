namespace Microsoft.ML.Preference.Data.Synthetic;

/// <summary>One synthetic visual-reasoning item: an image file, a question, its answer and a worked rationale.</summary>
public sealed class SyntheticReasoningItem
{
    internal SyntheticReasoningItem(string id, SyntheticSplit split, string imagePath, SyntheticTask task)
    {
        Id = id;
        Split = split;
        ImagePath = imagePath;
        Task = task;
    }

    internal SyntheticTask Task { get; }

    /// <summary>Identifier within the generated set, e.g. <c>train-00042</c>.</summary>
    public string Id { get; }

    /// <summary>The split the item belongs to.</summary>
    public SyntheticSplit Split { get; }

    /// <summary>The task family.</summary>
    public SyntheticTaskFamily FamilyKind => Task.Family;

    /// <summary>The family's name: <c>counting</c>, <c>bar-comparison</c>, <c>arithmetic</c> or <c>rectangle</c>.</summary>
    public string Family => SyntheticReasoningGenerator.FamilyName(Task.Family);

    /// <summary>Full path of the item's PNG image.</summary>
    public string ImagePath { get; }

    /// <summary>The question (multiple-choice questions list their options as "A. …" and "B. …" lines).</summary>
    public string Question => Task.Question;

    /// <summary>The ground-truth answer: a number or an option letter.</summary>
    public string Answer => Task.Answer;

    /// <summary>A short step-by-step rationale whose last line is "Final answer: X", X being <see cref="Answer"/>.</summary>
    public string Rationale => Task.Rationale;

    /// <summary>
    /// The item's content key (family and every parameter that determines the image and the question). Items with
    /// the same key are the same item; the split is a function of the key alone.
    /// </summary>
    public string ContentKey => Task.Key;

    /// <summary>The row of this item in the data views of <c>LoadSyntheticReasoning</c>.</summary>
    public SyntheticReasoningRow ToRow() => new()
    {
        Image = ImagePath, Prompt = Question, AnswerGt = Answer, Rationale = Rationale, Family = Family,
    };
}

/// <summary>A row of the synthetic data views: columns Image, Prompt, AnswerGt, Rationale and Family (all text).</summary>
public sealed class SyntheticReasoningRow
{
    /// <summary>Full path of the PNG image.</summary>
    public string Image { get; set; } = "";

    /// <summary>The question.</summary>
    public string Prompt { get; set; } = "";

    /// <summary>The ground-truth answer.</summary>
    public string AnswerGt { get; set; } = "";

    /// <summary>The correct step-by-step rationale, ending in "Final answer: X".</summary>
    public string Rationale { get; set; } = "";

    /// <summary>The task family's name.</summary>
    public string Family { get; set; } = "";
}

/// <summary>The two splits of a generated set.</summary>
/// <param name="Train">The training items.</param>
/// <param name="Test">The test items (contents disjoint from the training items').</param>
public sealed record SyntheticReasoningDataset(IReadOnlyList<SyntheticReasoningItem> Train, IReadOnlyList<SyntheticReasoningItem> Test);
