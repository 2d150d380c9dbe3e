using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>
/// Fresh weights for a model made in code (tiny test models, benchmarks): N(0, std²) matrices, embeddings and
/// position/class embeddings, zero biases, unit norm weights and layer scales — InternVL's and Hugging Face's
/// _init_weights in effect, and the "init" of the benchmark configuration.
/// </summary>
internal static class WeightInitializer
{
    /// <summary>Re-initialises every parameter of <paramref name="module"/> deterministically from <paramref name="seed"/>.</summary>
    public static void Initialize(nn.Module module, double std = 0.02, long seed = 0)
    {
        using var noGrad = torch.no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var (name, parameter) in module.named_parameters())
        {
            using var scope = torch.NewDisposeScope();
            string leaf = name[(name.LastIndexOf('.') + 1)..];
            if (leaf == "bias")
                parameter.zero_();
            else if (leaf is "ls1" or "ls2" || (leaf == "weight" && parameter.dim() == 1))
                parameter.fill_(1.0);
            else
                parameter.copy_(torch.randn(parameter.shape, dtype: ScalarType.Float32, generator: generator).mul_(std).to(parameter.dtype));
        }
    }
}
