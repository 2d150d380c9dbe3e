using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Vision;

/// <summary>
/// How images become tiles: InternVL's <c>force_image_size</c>, <c>min_dynamic_patch</c>, <c>max_dynamic_patch</c>,
/// <c>use_thumbnail</c> and <c>dynamic_image_size</c>. Defaults are InternVL2's.
/// </summary>
public sealed record ImageTilingOptions
{
    /// <summary>The largest tile side accepted (InternVL uses 224 to 448).</summary>
    public const int MaxTileSize = 4096;

    /// <summary>The tile side S.</summary>
    public int TileSize { get; init; } = 448;

    /// <summary>Fewest tiles per image (<c>min_dynamic_patch</c>).</summary>
    public int MinTiles { get; init; } = 1;

    /// <summary>Most tiles per image (<c>max_dynamic_patch</c>); images of a multi-image row share it (see <see cref="TileBudget"/>).</summary>
    public int MaxTiles { get; init; } = 12;

    /// <summary>Whether multi-tile images get a thumbnail tile (the whole image at S×S) after their tiles.</summary>
    public bool UseThumbnail { get; init; } = true;

    /// <summary>Whether images are tiled; false gives every image one S×S tile.</summary>
    public bool DynamicImageSize { get; init; } = true;

    /// <summary>The options a model was configured (and trained) with.</summary>
    public static ImageTilingOptions FromConfig(InternVLConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new ImageTilingOptions
        {
            TileSize = config.ForceImageSize,
            MinTiles = config.MinDynamicPatch,
            MaxTiles = config.MaxDynamicPatch,
            UseThumbnail = config.UseThumbnail,
            DynamicImageSize = config.DynamicImageSize,
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (TileSize < 1 || TileSize > MaxTileSize)
            throw new ArgumentException($"TileSize {TileSize} must be between 1 and {MaxTileSize}.");
        if (MinTiles < 1)
            throw new ArgumentException($"MinTiles {MinTiles} must be at least 1.");
        if (MaxTiles < 1 || MaxTiles > DynamicTiling.MaxSupportedTiles)
            throw new ArgumentException($"MaxTiles {MaxTiles} must be between 1 and {DynamicTiling.MaxSupportedTiles}.");
    }
}
