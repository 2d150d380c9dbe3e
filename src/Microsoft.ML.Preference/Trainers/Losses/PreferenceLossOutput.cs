using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>One term's share of a <see cref="PreferenceLossOutput"/>.</summary>
/// <param name="Term">The term (type and weight).</param>
/// <param name="Losses">Its unweighted per-example losses l_k [B], part of the autograd graph.</param>
/// <param name="Mean">mean(l_k), a scalar: what TRL's per-type metrics would show.</param>
internal sealed record PreferenceLossTermOutput(PreferenceLossTerm Term, Tensor Losses, Tensor Mean);

/// <summary>
/// The result of <see cref="PreferenceLoss.Compute"/>. Tensors are created in the caller's dispose scope; the
/// losses carry gradients to the policy log-probs, the rewards are detached.
/// </summary>
/// <param name="Losses">Per-example combined losses Σ_k w_k·l_k,i [B].</param>
/// <param name="Loss">mean_i of <paramref name="Losses"/>, the scalar to call backward on.</param>
/// <param name="Terms">Each term's unweighted losses and mean, in the order of the options.</param>
/// <param name="ChosenRewards">β·Δc [B] (on length-normalised log-probs when an ipo term is present).</param>
/// <param name="RejectedRewards">β·Δr [B].</param>
/// <param name="WeightedChosenRewards">(Σ_k w_k)·β·Δc [B]: what TRL 0.27.2 logs as rewards/chosen for a combination.</param>
/// <param name="WeightedRejectedRewards">(Σ_k w_k)·β·Δr [B]: what TRL logs as rewards/rejected.</param>
/// <param name="BcoDelta">The shift δ the <c>bco_pair</c> term used this step (after the update); null without that term.</param>
internal sealed record PreferenceLossOutput(
    Tensor Losses,
    Tensor Loss,
    IReadOnlyList<PreferenceLossTermOutput> Terms,
    Tensor ChosenRewards,
    Tensor RejectedRewards,
    Tensor WeightedChosenRewards,
    Tensor WeightedRejectedRewards,
    double? BcoDelta)
{
    /// <summary>The output of the term of <paramref name="type"/>, or null when the combination has none.</summary>
    public PreferenceLossTermOutput? Term(PreferenceLossType type) => Terms.FirstOrDefault(t => t.Term.Type == type);
}
