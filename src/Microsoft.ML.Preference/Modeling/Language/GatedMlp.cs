using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Language;

/// <summary>
/// The SwiGLU MLP every family uses, down(silu(gate(x)) · up(x)), with gate and up as two Linear layers or one
/// fused Linear whose first half is the gate (Phi-3's <c>gate_up_proj</c>: transformers models/phi3/modeling_phi3.py
/// <c>gate, up_states = up_states.chunk(2, dim=-1)</c>).
/// </summary>
internal sealed class GatedMlp : nn.Module<Tensor, Tensor>
{
    private readonly RenamedChild<Linear> _gate;
    private readonly RenamedChild<Linear>? _up;
    private readonly RenamedChild<Linear> _down;

    /// <summary>Creates the MLP under the family's names.</summary>
    public GatedMlp(LanguageModelConfig config) : base(nameof(GatedMlp))
    {
        var family = config.Family;
        long width = config.IntermediateSize;
        _gate = Child(family.Gate, nn.Linear(config.HiddenSize, family.FusedGateUp ? 2 * width : width, hasBias: config.MlpBias, device: ConstructionDevice.Current));
        if (!family.FusedGateUp)
            _up = Child(family.Up, nn.Linear(config.HiddenSize, width, hasBias: config.MlpBias, device: ConstructionDevice.Current));
        _down = Child(family.Down, nn.Linear(width, config.HiddenSize, hasBias: config.MlpBias, device: ConstructionDevice.Current));
    }

    private RenamedChild<Linear> Child(string name, Linear linear)
    {
        register_module(name, linear);
        return new(linear);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        Tensor gate, up;
        if (_up is null)
        {
            var both = _gate.Value.call(x).chunk(2, -1);
            (gate, up) = (both[0], both[1]);
        }
        else
            (gate, up) = (_gate.Value.call(x), _up.Value.call(x));
        return _down.Value.call(nn.functional.silu(gate) * up).MoveToOuterDisposeScope();
    }
}
