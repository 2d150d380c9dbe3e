using Microsoft.ML.Preference.Modeling.Layers;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Modeling;

/// <summary>
/// The libtorch ops a whole MPO step on the meta device meets without a Meta kernel (docs/incoming/22-real-sizes.md).
/// PyTorch registers their meta functions from Python (torch/_meta_registrations.py, torch/_refs), which TorchSharp's
/// C++-only libtorch does not load. Each probe records what happens today; when one starts passing, the meta-device step
/// test can go further.
/// </summary>
public class MetaKernelGapTests
{
    [Theory]
    [InlineData("index_select", "aten::index_select")]
    [InlineData("where.self", "aten::where.self")]
    [InlineData("embedding", "aten::index_select")]
    [InlineData("sdpa", "aten::where.self")]   // the math path's causal mask
    [InlineData("matmul", null)]
    [InlineData("softmax", null)]
    public void LibtorchHasNoMetaKernelForIndexSelectAndWhere(string op, string? missing)
    {
        TorchRuntime.Initialize();
        var meta = ConstructionDevice.Meta;
        using var scope = torch.NewDisposeScope();
        var x = torch.empty([2, 8, 16], device: meta);
        var ids = torch.empty([2, 8], dtype: torch.ScalarType.Int64, device: meta);
        Action run = op switch
        {
            "index_select" => () => x.index_select(0, torch.empty([3], dtype: torch.ScalarType.Int64, device: meta)),
            "where.self" => () => torch.where(torch.empty([2, 8, 16], dtype: torch.ScalarType.Bool, device: meta), x, x),
            "embedding" => () => torch.nn.Embedding(100, 16, device: meta).call(ids),
            "matmul" => () => x.matmul(torch.empty([16, 4], device: meta)),
            "softmax" => () => x.softmax(-1),
            _ => () => torch.nn.functional.scaled_dot_product_attention(x.unsqueeze(1), x.unsqueeze(1), x.unsqueeze(1), is_casual: true),
        };
        if (missing is null)
        {
            run();
            return;
        }
        var error = Assert.ThrowsAny<Exception>(run);
        Assert.Contains($"{missing}: attempted to run this operator with Meta tensors", error.Message);
    }
}
