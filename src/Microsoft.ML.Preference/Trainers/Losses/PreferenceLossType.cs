namespace Microsoft.ML.Preference.Trainers.Losses;

/// <summary>
/// The per-example preference losses of TRL v0.27.2's <c>DPOTrainer.dpo_loss</c>, under TRL's names
/// (see <see cref="PreferenceLossTypeNames"/> for the strings). pc, pr are the policy's summed completion
/// log-probs of the chosen and rejected answers, rc, rr the reference model's; Δc = pc − rc, Δr = pr − rr,
/// z = (pc − pr) − (rc − rr), β the temperature, ε the label smoothing.
/// </summary>
public enum PreferenceLossType
{
    /// <summary><c>sigmoid</c>: DPO, −(1−ε)·logσ(βz) − ε·logσ(−βz) (ε &gt; 0 is cDPO).</summary>
    Sigmoid,

    /// <summary><c>hinge</c>: RSO / SLiC, max(0, 1 − βz).</summary>
    Hinge,

    /// <summary>
    /// <c>ipo</c>: (z − 1/(2β))². When this type is among the terms, every summed log-prob (policy and reference)
    /// is first divided by its completion length, for all terms, as TRL's <c>concatenated_forward</c> does.
    /// </summary>
    Ipo,

    /// <summary><c>exo_pair</c>: EXO, σ(βz)·(logσ(βz) − log(1−ε)) + σ(−βz)·(logσ(−βz) − log ε); ε = 0 becomes 1e-3.</summary>
    ExoPair,

    /// <summary><c>nca_pair</c>: NCA, −logσ(βΔc) − ½·logσ(−βΔc) − ½·logσ(−βΔr).</summary>
    NcaPair,

    /// <summary><c>robust</c>: robust DPO, (−(1−ε)·logσ(βz) + ε·logσ(−βz)) / (1 − 2ε).</summary>
    Robust,

    /// <summary>
    /// <c>bco_pair</c>: BCO on pairs, −logσ(βΔc − δ) − logσ(−(βΔr − δ)); δ is the running mean of the batch mean
    /// reward (<see cref="BcoRunningMoments"/>). MPO's quality loss.
    /// </summary>
    BcoPair,

    /// <summary><c>sppo_hard</c>: SPPO with hard labels, (Δc − 1/(2β))² + (Δr + 1/(2β))².</summary>
    SppoHard,

    /// <summary><c>aot</c>: paired AOT; d = sort(pc − pr) − sort(rc − rr) over the batch, then the sigmoid loss of d.</summary>
    Aot,

    /// <summary><c>aot_pair</c>: unpaired AOT; d = sort(Δc) − sort(Δr) over the batch, then the sigmoid loss of d.</summary>
    AotPair,

    /// <summary><c>apo_zero</c>: APO-zero, (1 − σ(βΔc)) + σ(βΔr).</summary>
    ApoZero,

    /// <summary><c>apo_down</c>: APO-down, σ(βΔc) + (1 − σ(βz)).</summary>
    ApoDown,

    /// <summary><c>discopop</c>: DiscoPOP, m = σ(βz/τ), (1 − m)·(−logσ(βz)) + m·exp(−βz).</summary>
    DiscoPop,

    /// <summary>
    /// <c>sft</c>: the negative log-likelihood of the chosen completions, a token mean over all chosen completion
    /// tokens of the batch, the same scalar for every example. MPO's generation loss.
    /// </summary>
    Sft,
}
