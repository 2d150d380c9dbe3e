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
    /// <summary>The standard deviation of fresh matrices: the <c>initializer_range</c> of InternVL's configs.</summary>
    public const double DefaultStd = 0.02;

    /// <summary>Re-initialises every parameter of <paramref name="module"/> deterministically from <paramref name="seed"/>.</summary>
    public static void Initialize(nn.Module module, double std = DefaultStd, long seed = 0)
    {
        using var noGrad = torch.no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var (name, parameter) in module.named_parameters())
        {
            using var scope = torch.NewDisposeScope();
            parameter.copy_(InitialValue(name, parameter.shape, parameter.dtype, std, generator));
        }
    }

    /// <summary>
    /// The fresh value of the tensor named <paramref name="name"/>: zeros for a bias, ones for a norm weight or layer
    /// scale, else N(0, std²) drawn from <paramref name="generator"/> in float32 (so that every storage dtype draws the
    /// same numbers). Also the values <c>mpo init</c> writes, one tensor at a time.
    /// </summary>
    public static Tensor InitialValue(string name, long[] shape, ScalarType dtype, double std, Generator generator)
    {
        string leaf = name[(name.LastIndexOf('.') + 1)..];
        if (leaf == "bias")
            return torch.zeros(shape, dtype: dtype, device: torch.CPU);
        if (leaf is "ls1" or "ls2" || (leaf == "weight" && shape.Length == 1))
            return torch.ones(shape, dtype: dtype, device: torch.CPU);
        return torch.randn(shape, dtype: ScalarType.Float32, device: torch.CPU, generator: generator).mul_(std).to(dtype);
    }
}
