using System.Runtime.CompilerServices;
using Microsoft.ML.Preference.Data;

namespace Microsoft.ML.Preference;

/// <summary>
/// The preference-optimization catalog, reached as <c>mlContext.Preference</c>: trainers, data
/// sources and pair construction, and evaluation, in the manner of ML.NET's own catalogs.
/// </summary>
public sealed class PreferenceCatalog
{
    private static readonly ConditionalWeakTable<MLContext, PreferenceCatalog> Catalogs = new();

    /// <summary>The context every component of this catalog logs to and draws its seed from.</summary>
    public MLContext Context { get; }

    /// <summary>Preference trainers (MPO and the losses of the paper's ablation).</summary>
    public PreferenceTrainers Trainers { get; }

    /// <summary>Preference data: loading and saving the MMPR layout, building pairs.</summary>
    public PreferenceData Data { get; }

    /// <summary>Evaluation: Direct versus chain-of-thought accuracy, preference metrics.</summary>
    public PreferenceEvaluation Evaluation { get; }

    private PreferenceCatalog(MLContext context)
    {
        Context = context;
        Trainers = new PreferenceTrainers(context);
        Data = new PreferenceData(context);
        Evaluation = new PreferenceEvaluation(context);
    }

    /// <summary>The one catalog of <paramref name="context"/>: the same instance on every access.</summary>
    internal static PreferenceCatalog For(MLContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Catalogs.GetValue(context, static c => new PreferenceCatalog(c));
    }
}

/// <summary>Trainers of <see cref="PreferenceCatalog"/>.</summary>
public sealed class PreferenceTrainers
{
    internal MLContext Context { get; }
    internal PreferenceTrainers(MLContext context) => Context = context;

    /// <summary>
    /// Mixed Preference Optimization (MPO) with every option: the loss mix (any TRL preference loss), reference model,
    /// LoRA, optimiser, schedule, checkpoints. See <see cref="Trainers.MpoTrainer.Options"/> for the defaults.
    /// </summary>
    public Trainers.MpoTrainer Mpo(Trainers.MpoTrainer.Options options) => new(Context, options);

    /// <summary>
    /// MPO with <see cref="Trainers.MpoTrainer.Options"/>' defaults (the paper's loss; InternVL2's MPO script elsewhere) on an
    /// InternVL model folder and the named columns. For another generation's script: <c>Mpo(MpoTrainer.Options.FromRecipe(...))</c>.
    /// </summary>
    /// <param name="modelPath">The InternVL model folder to train.</param>
    /// <param name="imageColumnName">Image column (MLImage, path or vector of paths); null for text-only data.</param>
    /// <param name="promptColumnName">Question column.</param>
    /// <param name="chosenColumnName">Preferred response column.</param>
    /// <param name="rejectedColumnName">Dispreferred response column.</param>
    /// <param name="numberOfEpochs">Passes over the data.</param>
    /// <param name="learningRate">Peak learning rate.</param>
    public Trainers.MpoTrainer Mpo(string modelPath, string? imageColumnName = PreferenceColumnNames.Image, string promptColumnName = PreferenceColumnNames.Prompt,
        string chosenColumnName = PreferenceColumnNames.Chosen, string rejectedColumnName = PreferenceColumnNames.Rejected, int numberOfEpochs = 1, double learningRate = 5e-6) =>
        new(Context, new Trainers.MpoTrainer.Options
        {
            ModelPath = modelPath, ImageColumnName = imageColumnName, PromptColumnName = promptColumnName,
            ChosenColumnName = chosenColumnName, RejectedColumnName = rejectedColumnName, NumberOfEpochs = numberOfEpochs,
            LearningRate = learningRate,
        });
}

/// <summary>Data sources and pair-construction pipelines of <see cref="PreferenceCatalog"/>.</summary>
public sealed partial class PreferenceData
{
    internal MLContext Context { get; }
    internal PreferenceData(MLContext context) => Context = context;
}

/// <summary>Evaluators of <see cref="PreferenceCatalog"/>.</summary>
public sealed partial class PreferenceEvaluation
{
    internal MLContext Context { get; }
    internal PreferenceEvaluation(MLContext context) => Context = context;
}
