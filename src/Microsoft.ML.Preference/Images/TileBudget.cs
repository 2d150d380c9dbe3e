namespace Microsoft.ML.Preference.Images;

/// <summary>
/// How many tiles one image of a row may use. InternVL's multi-image path
/// (<c>multi_modal_multi_image_get_item</c> in internvl_chat_finetune.py and internvl_chat_dpo.py) tiles each image
/// with <c>max_num = max(1, max_dynamic_patch // num_image)</c> and the unchanged <c>min_num = min_dynamic_patch</c>,
/// so a row's tile count stays near the single-image budget however many images it holds.
/// </summary>
internal static class TileBudget
{
    /// <summary><c>max(1, maxTiles // imageCount)</c>: the <c>max_num</c> each image of a row gets.</summary>
    /// <param name="maxTiles">The model's <c>max_dynamic_patch</c>.</param>
    /// <param name="imageCount">Images in the row (1 for a single image, which keeps the whole budget).</param>
    public static int PerImage(int maxTiles, int imageCount)
    {
        if (maxTiles < 1)
            throw new ArgumentOutOfRangeException(nameof(maxTiles), maxTiles, "The most tiles must be at least 1.");
        if (imageCount < 1)
            throw new ArgumentOutOfRangeException(nameof(imageCount), imageCount, "A row with images has at least one.");
        return Math.Max(1, maxTiles / imageCount);
    }
}
