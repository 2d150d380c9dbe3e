using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>
/// The SwiGLU MLP both decoders use, down(silu(gate(x)) · up(x)), under each family's parameter names:
/// Qwen2 <c>gate_proj/up_proj/down_proj</c>, InternLM2 <c>w1/w3/w2</c>.
/// </summary>
public sealed class GatedMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear _gate;
    private readonly Linear _up;
    private readonly Linear _down;

    private GatedMlp(LanguageModelConfig config, string gate, string up, string down) : base(nameof(GatedMlp))
    {
        _gate = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false);
        _up = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false);
        _down = nn.Linear(config.IntermediateSize, config.HiddenSize, hasBias: false);
        register_module(gate, _gate);
        register_module(up, _up);
        register_module(down, _down);
    }

    /// <summary>Qwen2's names.</summary>
    public static GatedMlp Qwen2(LanguageModelConfig config) => new(config, "gate_proj", "up_proj", "down_proj");

    /// <summary>InternLM2's names.</summary>
    public static GatedMlp InternLM2(LanguageModelConfig config) => new(config, "w1", "w3", "w2");

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return _down.forward(nn.functional.silu(_gate.forward(x)) * _up.forward(x)).MoveToOuterDisposeScope();
    }
}
