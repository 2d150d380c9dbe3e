using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling.Lora;

/// <summary>Shared pieces of the LoRA tests: the tiny models' batch, target name lists and a few comparisons.</summary>
internal static class LoraTestModels
{
    /// <summary>Only the projector: the targets that InternVLChatModel runs through Module.call (mlp1 is a Sequential).</summary>
    public static LoraOptions ProjectorOnly(LoraOptions? options = null) =>
        (options ?? new LoraOptions()) with { TargetModules = [], IncludeProjector = true };

    /// <summary>Float32 logits of the fixture's image batch, without autograd.</summary>
    public static Tensor Logits(TinyModelFixture f, InternVLChatModel? model = null)
    {
        using var noGrad = torch.no_grad();
        return (model ?? f.Policy).Forward(f.Case("pixel_values"), f.Case("input_ids"), f.Case("attention_mask"), f.Case("image_flags"));
    }

    /// <summary>The decoder targets' full names, layer by layer in module order.</summary>
    public static IEnumerable<string> DecoderTargets(string backbone, int layers = 2)
    {
        for (int i = 0; i < layers; i++)
        {
            var prefix = $"language_model.model.layers.{i}.";
            if (backbone == "qwen2")
            {
                foreach (var n in new[] { "q_proj", "k_proj", "v_proj", "o_proj" })
                    yield return prefix + "self_attn." + n;
                foreach (var n in new[] { "gate_proj", "up_proj", "down_proj" })
                    yield return prefix + "mlp." + n;
            }
            else
            {
                foreach (var n in new[] { "wqkv", "wo" })
                    yield return prefix + "attention." + n;
                foreach (var n in new[] { "w1", "w3", "w2" })
                    yield return prefix + "feed_forward." + n;
            }
        }
    }

    /// <summary>A named Linear layer of the model.</summary>
    public static Linear LinearOf(nn.Module model, string name) =>
        (Linear)model.named_modules().Single(m => m.name == name).module;

    /// <summary>Copies of every parameter, by name.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

    public static bool BitIdentical(Tensor a, Tensor b) =>
        a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && a.bytes.SequenceEqual(b.bytes);
}
