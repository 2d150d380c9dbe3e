namespace Microsoft.ML.Preference.Images;

/// <summary>
/// What InternVL's <c>dynamic_preprocess</c> does to one image: resize it to
/// (<see cref="ResizedWidth"/>, <see cref="ResizedHeight"/>), cut <see cref="Boxes"/> out of that in order, and,
/// when <see cref="HasThumbnail"/>, append the original image resized to <see cref="TileSize"/>².
/// </summary>
internal sealed record TilingPlan
{
    /// <summary>Width of the original image.</summary>
    public required int SourceWidth { get; init; }

    /// <summary>Height of the original image.</summary>
    public required int SourceHeight { get; init; }

    /// <summary>The chosen grid.</summary>
    public required TileGrid Grid { get; init; }

    /// <summary>The tile side S (the model's <c>force_image_size</c>).</summary>
    public required int TileSize { get; init; }

    /// <summary>The crop boxes in the resized image, row-major: tile i is column i % cols, row i / cols.</summary>
    public required IReadOnlyList<TileBox> Boxes { get; init; }

    /// <summary>Whether the original image, resized to S×S, follows the tiles (only when there is more than one tile).</summary>
    public required bool HasThumbnail { get; init; }

    /// <summary>Tiles across.</summary>
    public int Cols => Grid.Cols;

    /// <summary>Tiles down.</summary>
    public int Rows => Grid.Rows;

    /// <summary>Cols · S.</summary>
    public int ResizedWidth => Grid.Cols * TileSize;

    /// <summary>Rows · S.</summary>
    public int ResizedHeight => Grid.Rows * TileSize;

    /// <summary>Cols · rows.</summary>
    public int Blocks => Grid.Blocks;

    /// <summary>The tiles this image becomes: blocks, plus one with a thumbnail.</summary>
    public int NumTiles => Grid.Blocks + (HasThumbnail ? 1 : 0);

    /// <summary>
    /// The plan without dynamic tiling (<c>dynamic_image_size</c> false): the whole image resized to S×S, one tile.
    /// It gives the same pixels as InternVL's single transform-resize, which is also what a 1×1 grid does.
    /// </summary>
    public static TilingPlan Single(int width, int height, int tileSize) => new()
    {
        SourceWidth = width,
        SourceHeight = height,
        Grid = new TileGrid(1, 1),
        TileSize = tileSize,
        Boxes = [new TileBox(0, 0, tileSize, tileSize)],
        HasThumbnail = false,
    };
}
