using System.Runtime.CompilerServices;

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

/// <summary>Trainers of <see cref="PreferenceCatalog"/>; members are added as each trainer is complete.</summary>
public sealed class PreferenceTrainers
{
    internal MLContext Context { get; }
    internal PreferenceTrainers(MLContext context) => Context = context;
}

/// <summary>Data sources and pair-construction pipelines of <see cref="PreferenceCatalog"/>.</summary>
public sealed class PreferenceData
{
    internal MLContext Context { get; }
    internal PreferenceData(MLContext context) => Context = context;
}

/// <summary>Evaluators of <see cref="PreferenceCatalog"/>.</summary>
public sealed class PreferenceEvaluation
{
    internal MLContext Context { get; }
    internal PreferenceEvaluation(MLContext context) => Context = context;
}
