namespace Microsoft.ML.Preference.Data;

/// <summary>
/// The package's canonical column names: the defaults of every column-name option and parameter
/// (<see cref="Trainers.MpoTrainer.Options"/>, <see cref="PreferenceColumns"/>, the catalog's methods), the columns
/// <see cref="Mmpr.MmprDataView"/> reads MMPR into and the columns <see cref="Transformers.MpoTransformer"/> adds.
/// </summary>
public static class PreferenceColumnNames
{
    /// <summary>The image column: an MLImage, a path string, or a vector of paths for multi-image rows.</summary>
    public const string Image = "Image";

    /// <summary>The question column (text; may hold &lt;image&gt; placeholders).</summary>
    public const string Prompt = "Prompt";

    /// <summary>The preferred response column (text).</summary>
    public const string Chosen = "Chosen";

    /// <summary>The dispreferred response column (text).</summary>
    public const string Rejected = "Rejected";

    /// <summary>The ground-truth answer column (text), as MMPR names it.</summary>
    public const string AnswerGt = "AnswerGt";

    /// <summary>The data set name column of MMPR data (text).</summary>
    public const string Source = "Source";

    /// <summary>
    /// The optional Int32 column that gives a row its own most tiles per image (0: the model's). MMPR data carries its
    /// data set's <c>max_dynamic_patch</c> there, and the trainer tiles the row's images with it, as InternVL's MPO script
    /// does (<c>build_datasets</c> in internvl_chat/internvl/train/internvl_chat_mpo.py).
    /// </summary>
    public const string MaxDynamicPatch = "MaxDynamicPatch";

    /// <summary>An existing response (text): the DropoutNTP pipeline's input, the transformer's generated output.</summary>
    public const string Response = "Response";

    /// <summary>The answer extracted from a response (text; empty on a format failure), added by the transformer.</summary>
    public const string Answer = "Answer";

    /// <summary>The grouping column that evaluation reports accuracy by (text), e.g. a task family.</summary>
    public const string Family = "Family";
}
