namespace Microsoft.ML.Preference.Trainers;

/// <summary>
/// The published MPO training scripts of OpenGVLab/InternVL, one per model generation, as presets of
/// <see cref="MpoTrainer.Options"/> (<see cref="MpoTrainer.Options.FromRecipe"/>, <c>mpo train --recipe</c>).
/// Every generation's scripts share the loss (<c>--loss_type sigmoid,bco_pair --sigmoid_loss_weight 0.8
/// --bco_pair_loss_weight 0.2 --rpo_alpha 1</c>), the unfrozen model (<c>--freeze_backbone/--freeze_mlp/--freeze_llm
/// False</c>), <c>--drop_path_rate 0.1</c>, <c>--bf16 True</c>, <c>--grad_checkpoint True</c>, <c>--weight_decay 0.05</c>,
/// <c>--warmup_ratio 0.03</c>, <c>--lr_scheduler_type cosine</c>, <c>--num_train_epochs 1</c> and a global batch of 256
/// (<c>BATCH_SIZE=256</c>, <c>--per_device_train_batch_size 1</c>); they differ in learning rate and
/// <c>--max_seq_length</c>.
/// </summary>
public enum MpoRecipe
{
    /// <summary>
    /// internvl_chat/shell/internvl2.0_mpo/preference_optimization/internvl2_8b_internlm2_7b_dynamic_res_mpo_full.sh:
    /// <c>--learning_rate 5e-6 --max_seq_length 6144</c>.
    /// </summary>
    InternVL2,

    /// <summary>
    /// internvl_chat/shell/internvl2.5_mpo/preference_optimization/internvl2_5_*_dynamic_res_mpo.sh (1B to 78B, e.g.
    /// internvl2_5_8b_internlm2_5_7b_dynamic_res_mpo.sh): <c>--learning_rate 1e-6 --max_seq_length 8192</c>.
    /// </summary>
    InternVL2_5,

    /// <summary>
    /// internvl_chat/shell/internvl3.0/mpo/internvl3_*_mpo.sh (e.g. internvl3_8b_mpo.sh):
    /// <c>--learning_rate 2e-7 --max_seq_length 12288</c>.
    /// </summary>
    InternVL3,
}

/// <summary>The CLI names of <see cref="MpoRecipe"/> ("internvl2", "internvl2.5", "internvl3").</summary>
internal static class MpoRecipeNames
{
    private static readonly (string Name, MpoRecipe Recipe)[] Table =
        [("internvl2", MpoRecipe.InternVL2), ("internvl2.5", MpoRecipe.InternVL2_5), ("internvl3", MpoRecipe.InternVL3)];

    /// <summary>Every name, in generation order.</summary>
    public static IReadOnlyList<string> Names { get; } = Array.AsReadOnly(Table.Select(t => t.Name).ToArray());

    /// <summary>The recipe called <paramref name="name"/> (case-insensitive); false for an unknown name.</summary>
    public static bool TryParse(string name, out MpoRecipe recipe)
    {
        foreach (var (n, r) in Table)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
            {
                recipe = r;
                return true;
            }
        }
        recipe = default;
        return false;
    }

    /// <summary>The CLI name of <paramref name="recipe"/>.</summary>
    public static string ToName(this MpoRecipe recipe) => Table.First(t => t.Recipe == recipe).Name;
}
