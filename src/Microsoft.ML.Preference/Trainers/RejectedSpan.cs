namespace Microsoft.ML.Preference.Trainers;

/// <summary>Which tokens of the rejected response the preference terms score.</summary>
public enum RejectedSpan
{
    /// <summary>The whole response and its end-of-turn token: the paper's and TRL's DPO.</summary>
    WholeResponse,

    /// <summary>
    /// The rejected response up to the end of its first step (line) that departs from the chosen response; the
    /// tokens after it are not scored. Those tokens were written after the mistake, and are often right steps
    /// from a wrong start (correct arithmetic on a misread number): pushing them down teaches a model to avoid
    /// right reasoning. Step-DPO (Lai et al., 2024) scores the first wrong step for the same reason. The chosen
    /// response is always scored whole.
    /// </summary>
    FirstDivergentStep,
}
