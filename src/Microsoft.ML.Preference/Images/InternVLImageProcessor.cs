using Microsoft.ML.Data;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;

namespace Microsoft.ML.Preference.Images;

/// <summary>
/// Images to InternVL's <c>pixel_values</c>: decode (<see cref="ImageDecoder"/>), plan the tiles
/// (<see cref="DynamicTiling"/>, with the per-image budget of multi-image rows, <see cref="TileBudget"/>), resize
/// with Pillow's bicubic (<see cref="PilBicubic"/>), crop, add the thumbnail, and normalise
/// (<see cref="ImageNetNormalization"/>) into a float32 tensor [tiles, 3, S, S]. This is InternVL's evaluation
/// transform (<c>build_transform(is_train=False)</c>); the training-time JPEG-quality augmentation is not applied.
/// </summary>
internal sealed class InternVLImageProcessor
{
    /// <summary>The side of the blank image InternVL tiles for text-only rows.</summary>
    public const int TextOnlyImageSize = 224;

    /// <summary>Creates a processor; <paramref name="options"/> are validated here.</summary>
    public InternVLImageProcessor(ImageTilingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    /// <summary>Creates a processor with a model's settings (<see cref="ImageTilingOptions.FromConfig"/>).</summary>
    public InternVLImageProcessor(InternVLConfig config) : this(ImageTilingOptions.FromConfig(config))
    {
    }

    /// <summary>The settings.</summary>
    public ImageTilingOptions Options { get; }

    /// <summary>
    /// How a <paramref name="width"/>×<paramref name="height"/> image in a row of <paramref name="imagesInRow"/>
    /// images is tiled: <c>dynamic_preprocess</c> with max_num = <see cref="TileBudget.PerImage"/>, or one S×S
    /// tile without dynamic tiling.
    /// </summary>
    /// <param name="width">The image's width.</param>
    /// <param name="height">The image's height.</param>
    /// <param name="imagesInRow">Images in the row, which share the budget.</param>
    /// <param name="maxTiles">The row's own max_dynamic_patch (an MMPR data set's), or null for <see cref="ImageTilingOptions.MaxTiles"/>.</param>
    public TilingPlan Plan(int width, int height, int imagesInRow = 1, int? maxTiles = null)
    {
        if (maxTiles is < 1 or > DynamicTiling.MaxSupportedTiles)
            throw new ArgumentOutOfRangeException(nameof(maxTiles), $"max_dynamic_patch {maxTiles} must be between 1 and {DynamicTiling.MaxSupportedTiles}.");
        int budget = TileBudget.PerImage(maxTiles ?? Options.MaxTiles, imagesInRow);
        if (!Options.DynamicImageSize)
        {
            if (width < 1 || height < 1)
                throw new ArgumentOutOfRangeException(width < 1 ? nameof(width) : nameof(height), $"An image of {width}x{height} pixels has nothing to tile.");
            return TilingPlan.Single(width, height, Options.TileSize);
        }
        return DynamicTiling.Plan(width, height, Options.MinTiles, budget, Options.TileSize, Options.UseThumbnail);
    }

    /// <summary>
    /// The tiles as RGB images, before normalisation, in tensor order (tiles row-major, then the thumbnail):
    /// exactly the PIL images InternVL hands to its transform.
    /// </summary>
    public IReadOnlyList<RgbImage> TileImages(RgbImage image, int imagesInRow = 1)
    {
        ArgumentNullException.ThrowIfNull(image);
        var plan = Plan(image.SourceWidth, image.SourceHeight, imagesInRow);
        var resized = PilBicubic.Resize(image, plan.ResizedWidth, plan.ResizedHeight);
        var tiles = plan.Boxes.Select(resized.Crop).ToList();
        if (plan.HasThumbnail)
            tiles.Add(PilBicubic.Resize(image, plan.TileSize, plan.TileSize));
        return tiles;
    }

    /// <summary>The tiles of one image file.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="rowIndex">The data row, named in errors.</param>
    /// <exception cref="ImageLoadException">The file is missing, unreadable, not an image, or corrupt.</exception>
    public ImageTiles Process(string path, int? rowIndex = null) => ProcessRow([path], rowIndex);

    /// <summary>The tiles of one ML.NET image (see <see cref="RgbImage.FromMLImage"/> about transparency).</summary>
    public ImageTiles Process(MLImage image) => ProcessRow([RgbImage.FromMLImage(image)]);

    /// <summary>The tiles of one decoded image.</summary>
    public ImageTiles Process(RgbImage image) => ProcessRow([image]);

    /// <summary>
    /// The tiles of a row's image files, in order, each with the row's per-image budget. All files are decoded
    /// before any tensor is made, so a bad file fails the row cleanly.
    /// </summary>
    /// <param name="paths">The row's image files (none for a text-only row: see <see cref="TextOnlyPlaceholder"/>).</param>
    /// <param name="rowIndex">The data row, named in errors.</param>
    /// <exception cref="ImageLoadException">A file is missing, unreadable, not an image, or corrupt.</exception>
    public ImageTiles ProcessRow(IReadOnlyList<string> paths, int? rowIndex = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var images = new RgbImage[paths.Count];
        for (int i = 0; i < images.Length; i++)
            images[i] = Load(paths[i] ?? throw new ArgumentException($"Image path {i} is null.", nameof(paths)), rowIndex, paths.Count);
        return ProcessRow(images);
    }

    /// <summary>
    /// Decodes an image file for tiling, within bounds: its size is read from the header first, a file above
    /// <see cref="ImageTilingOptions.MaxImagePixels"/> is refused naming its size, and one above
    /// <see cref="ImageTilingOptions.FullDecodeMaxPixels"/> is decoded at a reduced scale no smaller than its tiling
    /// plan's resize (the result keeps the file's size in <see cref="RgbImage.SourceWidth"/>, which tiling plans from).
    /// </summary>
    /// <param name="path">The image file.</param>
    /// <param name="rowIndex">The data row, named in errors.</param>
    /// <param name="imagesInRow">The row's image count (it sets each image's tile budget).</param>
    /// <exception cref="ImageLoadException">The file is missing, unreadable, not an image, corrupt, or above the pixel limit.</exception>
    public RgbImage Load(string path, int? rowIndex = null, int imagesInRow = 1)
    {
        var (width, height) = ImageDecoder.ReadSize(path, rowIndex);
        long pixels = (long)width * height;
        // Small enough to decode whole (exactly as PIL), or refused on its header naming its size: no plan needed.
        if (pixels <= Options.FullDecodeMaxPixels || pixels > Options.MaxImagePixels || width < 1 || height < 1)
            return ImageDecoder.Load(path, rowIndex, new ImageDecodeBounds(Options.MaxImagePixels, long.MaxValue, 0, 0));
        var plan = Plan(width, height, imagesInRow);
        return ImageDecoder.Load(path, rowIndex, new ImageDecodeBounds(Options.MaxImagePixels, Options.FullDecodeMaxPixels, plan.ResizedWidth, plan.ResizedHeight));
    }

    /// <summary>The tiles of a row's ML.NET images, in order, each with the row's per-image budget.</summary>
    public ImageTiles ProcessRow(IReadOnlyList<MLImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        return ProcessRow(images.Select(RgbImage.FromMLImage).ToArray());
    }

    /// <summary>The tiles of a row's decoded images, in order, each with the row's per-image budget.</summary>
    /// <param name="images">The row's images.</param>
    /// <param name="maxTiles">The row's own max_dynamic_patch (an MMPR data set's), or null for <see cref="ImageTilingOptions.MaxTiles"/>.</param>
    public ImageTiles ProcessRow(IReadOnlyList<RgbImage> images, int? maxTiles = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        var plans = new TilingPlan[images.Count];
        for (int i = 0; i < plans.Length; i++)
        {
            var image = images[i] ?? throw new ArgumentException($"Image {i} is null.", nameof(images));
            plans[i] = Plan(image.SourceWidth, image.SourceHeight, images.Count, maxTiles);
        }
        int total = plans.Sum(p => p.NumTiles);
        int size = Options.TileSize;

        TorchRuntime.Initialize();
        using var scope = torch.NewDisposeScope();
        var pixelValues = torch.empty([total, 3, size, size], torch.float32, device: torch.CPU);
        int next = 0;
        for (int i = 0; i < plans.Length; i++)
        {
            // One image's resized copy at a time: the row never holds more than one of them.
            var plan = plans[i];
            var resized = PilBicubic.Resize(images[i], plan.ResizedWidth, plan.ResizedHeight);
            foreach (var box in plan.Boxes)
                WriteTile(pixelValues, next++, resized, box);
            if (plan.HasThumbnail)
                WriteTile(pixelValues, next++, PilBicubic.Resize(images[i], size, size), new TileBox(0, 0, size, size));
        }
        return new ImageTiles(pixelValues.MoveToOuterDisposeScope(), plans);
    }

    /// <summary>
    /// What InternVL feeds for a row without images (<c>pure_text_get_item</c>): a white 224×224 image tiled with
    /// max_num = 1, one tile, which the collator flags 0 (<c>image_flags</c>) so the model drops it.
    /// </summary>
    public ImageTiles TextOnlyPlaceholder()
    {
        var white = new byte[TextOnlyImageSize * TextOnlyImageSize * 3];
        Array.Fill(white, (byte)255);
        var image = new RgbImage(TextOnlyImageSize, TextOnlyImageSize, white);
        // Upstream calls dynamic_preprocess(min_num=min_dynamic_patch, max_num=1) whatever dynamic_image_size says.
        var plan = DynamicTiling.Plan(image.Width, image.Height, Options.MinTiles, 1, Options.TileSize, Options.UseThumbnail);
        int size = Options.TileSize;

        TorchRuntime.Initialize();
        using var scope = torch.NewDisposeScope();
        var pixelValues = torch.empty([plan.NumTiles, 3, size, size], torch.float32, device: torch.CPU);
        var resized = PilBicubic.Resize(image, plan.ResizedWidth, plan.ResizedHeight);
        int next = 0;
        foreach (var box in plan.Boxes)
            WriteTile(pixelValues, next++, resized, box);
        return new ImageTiles(pixelValues.MoveToOuterDisposeScope(), [plan]);
    }

    private static void WriteTile(torch.Tensor pixelValues, int index, RgbImage source, TileBox box)
    {
        using var tile = pixelValues[index];
        TileTensorWriter.Write(source, box, tile);
    }
}
