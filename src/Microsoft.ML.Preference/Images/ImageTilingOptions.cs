using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Images;

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

    /// <summary>
    /// The most pixels an image file may have (read from its header before any pixel is decoded); a larger one is
    /// refused, naming the file and its size (a bad row in training). Default 1,000,000,000 (e.g. 31623×31623).
    /// PIL, which InternVL loads with, refuses above 178,956,970 (twice its <c>MAX_IMAGE_PIXELS</c>) to stop
    /// decompression bombs; here decoding is bounded (see <see cref="FullDecodeMaxPixels"/>), so the limit only caps
    /// decoding time.
    /// </summary>
    public long MaxImagePixels { get; init; } = 1_000_000_000;

    /// <summary>
    /// Images up to this many pixels are decoded whole and resized exactly as InternVL's PIL code does. A larger
    /// image is decoded row by row at an integer-reduced scale (a box average, never below the size tiling resizes
    /// it to), so memory stays near the reduced image whatever the file's size; its pixels then differ slightly from
    /// PIL's. Default 64,000,000 (8000×8000: 256 MB of RGBA decoded whole).
    /// </summary>
    public long FullDecodeMaxPixels { get; init; } = 64_000_000;

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
        if (MaxImagePixels < 1)
            throw new ArgumentException($"MaxImagePixels {MaxImagePixels} must be at least 1.");
        if (FullDecodeMaxPixels < 1)
            throw new ArgumentException($"FullDecodeMaxPixels {FullDecodeMaxPixels} must be at least 1.");
    }
}
