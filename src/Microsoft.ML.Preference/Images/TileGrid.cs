namespace Microsoft.ML.Preference.Images;

/// <summary>A grid of tiles: <paramref name="Cols"/> across, <paramref name="Rows"/> down (InternVL's <c>target_aspect_ratio</c>).</summary>
/// <param name="Cols">Tiles across.</param>
/// <param name="Rows">Tiles down.</param>
internal readonly record struct TileGrid(int Cols, int Rows)
{
    /// <summary>Cols · rows: the tiles the grid cuts (InternVL's <c>blocks</c>).</summary>
    public int Blocks => Cols * Rows;

    /// <inheritdoc/>
    public override string ToString() => $"{Cols}x{Rows}";
}
