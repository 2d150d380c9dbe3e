namespace Microsoft.ML.Preference.Images;

/// <summary>A crop box in pixels, in PIL's <c>crop</c> order: left and upper inclusive, right and lower exclusive.</summary>
/// <param name="Left">First column.</param>
/// <param name="Upper">First row.</param>
/// <param name="Right">One past the last column.</param>
/// <param name="Lower">One past the last row.</param>
internal readonly record struct TileBox(int Left, int Upper, int Right, int Lower)
{
    /// <summary>Right − left.</summary>
    public int Width => Right - Left;

    /// <summary>Lower − upper.</summary>
    public int Height => Lower - Upper;

    /// <inheritdoc/>
    public override string ToString() => $"({Left}, {Upper}, {Right}, {Lower})";
}
