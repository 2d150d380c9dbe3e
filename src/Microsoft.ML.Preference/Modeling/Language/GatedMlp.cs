using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>
/// The SwiGLU MLP both decoders use, down(silu(gate(x)) · up(x)). TorchSharp names a module's children after
/// its fields, so each family gets its own small class whose fields carry the Hugging Face names.
/// </summary>
internal static class SwiGlu
{
    public static (Linear Gate, Linear Up, Linear Down) Create(LanguageModelConfig config) => (
        nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false),
        nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false),
        nn.Linear(config.IntermediateSize, config.HiddenSize, hasBias: false));

    public static Tensor Forward(Linear gate, Linear up, Linear down, Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return down.call(nn.functional.silu(gate.call(x)) * up.call(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>Qwen2's MLP: <c>gate_proj</c>, <c>up_proj</c>, <c>down_proj</c>.</summary>
public sealed class Qwen2Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;

    /// <summary>Creates the MLP.</summary>
    public Qwen2Mlp(LanguageModelConfig config) : base(nameof(Qwen2Mlp))
    {
        (gate_proj, up_proj, down_proj) = SwiGlu.Create(config);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x) => SwiGlu.Forward(gate_proj, up_proj, down_proj, x);
}

/// <summary>InternLM2's MLP: <c>w1</c> (gate), <c>w3</c> (up), <c>w2</c> (down).</summary>
public sealed class InternLM2FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly Linear w1;
    private readonly Linear w3;
    private readonly Linear w2;

    /// <summary>Creates the MLP.</summary>
    public InternLM2FeedForward(LanguageModelConfig config) : base(nameof(InternLM2FeedForward))
    {
        (w1, w3, w2) = SwiGlu.Create(config);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x) => SwiGlu.Forward(w1, w3, w2, x);
}
