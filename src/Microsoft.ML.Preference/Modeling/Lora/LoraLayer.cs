using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Lora;

/// <summary>
/// The adapter of one target layer: <c>lora_A</c> [r, in] and <c>lora_B</c> [out, r], bias-free linear maps as in
/// PEFT's <c>LoraLayer.update_layer</c>, so that the update of the target's output is scale · B(A(x)) and the
/// update of its weight is scale · B @ A. Owned by a <see cref="LoraAdapter"/>, never by the base model.
/// </summary>
internal sealed class LoraLayer : nn.Module
{
    private readonly Linear lora_A;
    private readonly Linear lora_B;
    private readonly Borrowed<Linear> _baseLayer;

    internal LoraLayer(string targetName, Linear baseLayer, int rank, ScalarType dtype) : base(nameof(LoraLayer))
    {
        TargetName = targetName;
        _baseLayer = new Borrowed<Linear>(baseLayer);
        var weight = baseLayer.weight ?? throw new ArgumentException($"Linear layer '{targetName}' has no weight.");
        OutFeatures = weight.shape[0];
        InFeatures = weight.shape[1];
        var device = weight.device;
        lora_A = nn.Linear(InFeatures, rank, hasBias: false, device: device, dtype: dtype);
        lora_B = nn.Linear(rank, OutFeatures, hasBias: false, device: device, dtype: dtype);
        register_module(nameof(lora_A), lora_A);
        register_module(nameof(lora_B), lora_B);
    }

    /// <summary>The full name of the adapted layer in the base model, e.g. <c>language_model.model.layers.0.self_attn.q_proj</c>.</summary>
    public string TargetName { get; }

    /// <summary>The adapted layer of the base model (not owned: the adapter never disposes it).</summary>
    public Linear BaseLayer => _baseLayer.Value;

    /// <summary>The layer's input features.</summary>
    public long InFeatures { get; }

    /// <summary>The layer's output features.</summary>
    public long OutFeatures { get; }

    /// <summary>The rank r.</summary>
    public long Rank => A.shape[0];

    /// <summary>lora_A's weight [r, in] (PEFT: <c>lora_A.weight</c>).</summary>
    public Parameter A => lora_A.weight!;

    /// <summary>lora_B's weight [out, r] (PEFT: <c>lora_B.weight</c>).</summary>
    public Parameter B => lora_B.weight!;

    /// <summary>B(A(<paramref name="x"/>)), unscaled, in the adapter's dtype.</summary>
    internal Tensor Update(Tensor x) => lora_B.forward(lora_A.forward(x));

    /// <summary>scale · B @ A [out, in] in the adapter's dtype (PEFT's <c>get_delta_weight</c> without fan_in_fan_out).</summary>
    internal Tensor DeltaWeight(double scale)
    {
        using var scope = torch.NewDisposeScope();
        return B.matmul(A).mul_(scale).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// PEFT's <c>reset_lora_parameters</c>: A from kaiming-uniform(a = √5), i.e. U(−1/√in, 1/√in); B zero, or drawn the
    /// same way (U(−1/√r, 1/√r), nn.Linear's default) when <paramref name="zeroB"/> is false. Drawn in float32 on the
    /// CPU from <paramref name="generator"/>, so the values do not depend on the device or dtype.
    /// </summary>
    internal void Initialize(Generator generator, bool zeroB)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        A.copy_(KaimingUniform(A.shape, generator));
        if (zeroB)
            B.zero_();
        else
            B.copy_(KaimingUniform(B.shape, generator));
    }

    /// <summary>torch.nn.init.kaiming_uniform_(w, a=√5): gain √(2 / (1 + a²)) = √(1/3), bound gain·√(3 / fan_in) = 1/√fan_in.</summary>
    private static Tensor KaimingUniform(long[] shape, Generator generator)
    {
        double a = Math.Sqrt(5);
        double gain = Math.Sqrt(2.0 / (1 + a * a));
        double bound = gain * Math.Sqrt(3.0 / shape[1]);
        return torch.empty(shape, dtype: ScalarType.Float32, device: torch.CPU).uniform_(-bound, bound, generator);
    }
}
