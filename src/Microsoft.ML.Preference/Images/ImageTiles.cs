using TorchSharp;

namespace Microsoft.ML.Preference.Images;

/// <summary>
/// The tiles of one data row: <see cref="PixelValues"/> [tiles, 3, S, S] float32 (images in order, each image's
/// tiles then its thumbnail) and how many tiles each image has, which the prompt needs: image i becomes
/// <c>&lt;img&gt;</c> + <c>&lt;IMG_CONTEXT&gt;</c>×(num_image_token·tiles[i]) + <c>&lt;/img&gt;</c>.
/// Disposing it disposes the tensor.
/// </summary>
internal sealed class ImageTiles : IDisposable
{
    internal ImageTiles(torch.Tensor pixelValues, IReadOnlyList<TilingPlan> plans)
    {
        PixelValues = pixelValues;
        Plans = plans;
        TilesPerImage = plans.Select(p => p.NumTiles).ToArray();
    }

    /// <summary>The tiles, [tiles, 3, S, S] float32 on the CPU; [0, 3, S, S] for a row without images.</summary>
    public torch.Tensor PixelValues { get; }

    /// <summary>How each image was tiled, in row order.</summary>
    public IReadOnlyList<TilingPlan> Plans { get; }

    /// <summary>Tiles per image, in row order (InternVL's <c>num_tiles</c>).</summary>
    public IReadOnlyList<int> TilesPerImage { get; }

    /// <summary>All tiles of the row: the first dimension of <see cref="PixelValues"/>.</summary>
    public int TotalTiles => TilesPerImage.Sum();

    /// <summary><c>&lt;IMG_CONTEXT&gt;</c> tokens per image: <paramref name="numImageToken"/> (the config's <c>NumImageToken</c>) × tiles.</summary>
    public IReadOnlyList<int> ImageTokenCounts(int numImageToken)
    {
        if (numImageToken < 1)
            throw new ArgumentOutOfRangeException(nameof(numImageToken), numImageToken, "A tile has at least one image token.");
        return TilesPerImage.Select(t => checked(numImageToken * t)).ToArray();
    }

    /// <summary>Disposes <see cref="PixelValues"/>.</summary>
    public void Dispose() => PixelValues.Dispose();
}
