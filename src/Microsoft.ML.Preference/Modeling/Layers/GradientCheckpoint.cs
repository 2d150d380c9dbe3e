using TorchSharp;
using static TorchSharp.torch;
using static global::TorchSharp.torch.autograd;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// Activation (gradient) checkpointing: a layer runs without keeping its intermediate activations and is run
/// again in backward to get them — memory for compute, as torch.utils.checkpoint's reentrant variant does.
/// The CPU random state is saved and restored so that stochastic depth draws the same masks both times.
/// </summary>
internal static class GradientCheckpoint
{
    private static long _recomputations;

    /// <summary>Layers recomputed in backward so far in this process (a diagnostic for tests and logs).</summary>
    public static long Recomputations => Interlocked.Read(ref _recomputations);

    /// <summary>
    /// Runs <paramref name="layer"/> on <paramref name="input"/> under checkpointing. Tensors the layer reads
    /// besides its input (RoPE tables, masks) must come through <paramref name="context"/>: autograd keeps them
    /// alive until backward, whatever dispose scope the caller's copies belong to.
    /// </summary>
    public static Tensor Run(Func<Tensor, Tensor[], Tensor> layer, Tensor input, params Tensor[] context)
    {
        // A frozen embedding gives an input without grad; the layer's own (e.g. LoRA) parameters still need one,
        // so the input is made to require grad (Hugging Face's enable_input_require_grads does the same).
        var x = input.requires_grad ? input : input.detach().requires_grad_(true);
        return CheckpointFunction.apply([x, layer, .. context]);
    }

    /// <summary>Checkpoints a layer that reads only its input.</summary>
    public static Tensor Run(Func<Tensor, Tensor> layer, Tensor input) => Run((x, _) => layer(x), input);

    private sealed class CheckpointFunction : SingleTensorFunction<CheckpointFunction>
    {
        public override string Name => "GradientCheckpoint";

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var input = (Tensor)vars[0];
            var layer = (Func<Tensor, Tensor[], Tensor>)vars[1];
            var context = vars.Skip(2).Cast<Tensor>().ToArray();
            ctx.save_for_backward([input, .. context]);
            ctx.save_data("layer", layer);
            // As bytes: the context's data holds no tensors (TorchSharp prints a warning for every one), and bytes need
            // no owner between forward and backward.
            using (var rng = torch.random.get_rng_state())
                ctx.save_data("rng", rng.data<byte>().ToArray());
            return layer(input, context);
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var layer = (Func<Tensor, Tensor[], Tensor>)ctx.get_data("layer");
            using var rng = torch.tensor((byte[])ctx.get_data("rng"), ScalarType.Byte, device: torch.CPU);
            using var current = torch.random.get_rng_state();
            torch.random.set_rng_state(rng);
            Tensor inputGrad;
            using (var scope = torch.NewDisposeScope())
            using (torch.enable_grad())
            {
                var x = saved[0].detach().requires_grad_(true);
                var y = layer(x, saved.Skip(1).ToArray());
                // Parameter gradients accumulate into .grad here; the input's goes back to the outer graph.
                torch.autograd.backward([y], [gradOutput]);
                inputGrad = x.grad!.clone().MoveToOuterDisposeScope();
            }
            torch.random.set_rng_state(current);
            Interlocked.Increment(ref _recomputations);
            // One entry per argument of apply: the input's gradient, none for the layer and the context tensors.
            var grads = new List<Tensor> { inputGrad, null! };
            for (int i = 1; i < saved.Count; i++)
                grads.Add(null!);
            return grads;
        }
    }
}
