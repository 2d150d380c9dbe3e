using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Vision;

/// <summary>
/// InternViT's embeddings: a CLS token, a stride-patch convolution and a learned position embedding whose
/// patch part is resampled bicubically when the tile's grid differs from the checkpoint's.
/// Parameters: <c>class_embedding</c>, <c>patch_embedding.{weight,bias}</c>, <c>position_embedding</c>.
/// </summary>
internal sealed class InternVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Parameter class_embedding;
    private readonly Conv2d patch_embedding;
    private readonly Parameter position_embedding;
    private readonly int _grid;

    /// <summary>Creates the embeddings for <paramref name="config"/>.</summary>
    public InternVisionEmbeddings(InternVisionConfig config) : base(nameof(InternVisionEmbeddings))
    {
        _grid = config.GridSize;
        class_embedding = new Parameter(torch.randn(1, 1, config.HiddenSize, device: ConstructionDevice.Current));
        patch_embedding = nn.Conv2d(config.NumChannels, config.HiddenSize, config.PatchSize, stride: config.PatchSize, device: ConstructionDevice.Current);
        position_embedding = new Parameter(torch.randn(1, _grid * _grid + 1, config.HiddenSize, device: ConstructionDevice.Current));
        register_parameter(nameof(class_embedding), class_embedding);
        register_module(nameof(patch_embedding), patch_embedding);
        register_parameter(nameof(position_embedding), position_embedding);
    }

    /// <summary>[tiles, 3, H, W] pixels to [tiles, 1 + patches, C] tokens.</summary>
    public override Tensor forward(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        var dtype = patch_embedding.weight!.dtype;
        var patches = patch_embedding.forward(pixelValues.to(dtype)); // [N, C, h, w]
        long n = patches.shape[0], h = patches.shape[2], w = patches.shape[3];
        patches = patches.flatten(2).transpose(1, 2);
        var cls = class_embedding.expand(n, 1, -1).to(dtype);
        var tokens = torch.cat([cls, patches], 1);
        var position = torch.cat([position_embedding[.., ..1, ..], PatchPositions(h, w)], 1).to(dtype);
        return tokens.Plus(position).MoveToOuterDisposeScope();
    }

    /// <summary>The patch part of the position embedding for an h×w grid (bicubic, align_corners false).</summary>
    private Tensor PatchPositions(long h, long w)
    {
        var patchPart = position_embedding[.., 1.., ..];
        if (h == _grid && w == _grid)
            return patchPart; // bicubic resampling onto the same grid is the identity
        long c = patchPart.shape[2];
        var grid = patchPart.to(ScalarType.Float32).reshape(1, _grid, _grid, c).permute(0, 3, 1, 2);
        var resized = nn.functional.interpolate(grid, size: [h, w], mode: InterpolationMode.Bicubic, align_corners: false);
        return resized.reshape(1, c, h * w).permute(0, 2, 1);
    }
}
