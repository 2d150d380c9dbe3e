using TorchSharp.Modules;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// AdamW as the training loop drives it: gradients of one or more micro-batches, then clip and step. Two forms:
/// <see cref="TorchAdamW"/> updates the parameters in place (float32, or bf16 without master weights), and
/// <see cref="MasterWeightAdamW"/> updates float32 master copies of bf16 parameters.
/// </summary>
internal interface ITrainingOptimizer : IDisposable
{
    /// <summary>Clears the gradients before a step's first micro-batch.</summary>
    void ZeroGrad();

    /// <summary>Called after each micro-batch's backward: takes the new gradients in.</summary>
    void AfterBackward();

    /// <summary>Clips the step's gradients to a global norm of <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    double ClipGradNorm(double maxNorm);

    /// <summary>One AdamW update at <paramref name="learningRate"/>.</summary>
    void Step(double learningRate);

    /// <summary>Writes what an exact resume needs into the checkpoint folder <paramref name="directory"/>.</summary>
    void Save(string directory);

    /// <summary>Reads what <see cref="Save"/> wrote (the parameters themselves are already loaded).</summary>
    void Restore(string directory);

    /// <summary>Creates the optimiser a run needs: master weights when the trainable parameters are not float32 and they are asked for.</summary>
    static ITrainingOptimizer Create(IReadOnlyList<Parameter> trainable, MpoTrainer.Options o) =>
        o.Float32MasterWeights && trainable.Any(p => p.dtype != global::TorchSharp.torch.ScalarType.Float32)
            ? new MasterWeightAdamW(trainable, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay, accumulate: o.GradientAccumulationSteps > 1)
            : new TorchAdamW(trainable, o.LearningRate, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay);
}

/// <summary>TorchSharp's AdamW on the parameters themselves; its state goes to <c>optimizer.bin</c>.</summary>
internal sealed class TorchAdamW : ITrainingOptimizer
{
    public const string FileName = "optimizer.bin";

    private readonly IReadOnlyList<Parameter> _parameters;
    private readonly global::TorchSharp.torch.optim.Optimizer _adamw;

    public TorchAdamW(IReadOnlyList<Parameter> parameters, double learningRate, double beta1, double beta2, double epsilon, double weightDecay)
    {
        _parameters = parameters;
        _adamw = global::TorchSharp.torch.optim.AdamW(parameters, learningRate, beta1, beta2, epsilon, weightDecay);
    }

    public void ZeroGrad() => _adamw.zero_grad();

    public void AfterBackward()
    {
        // The gradients accumulate in the parameters' own .grad, in their own dtype.
    }

    public double ClipGradNorm(double maxNorm) => global::TorchSharp.torch.nn.utils.clip_grad_norm_(_parameters, maxNorm);

    public void Step(double learningRate)
    {
        foreach (var group in _adamw.ParamGroups)
            group.LearningRate = learningRate;
        _adamw.step();
    }

    public void Save(string directory)
    {
        using var stream = File.Create(Path.Combine(directory, FileName));
        using var writer = new BinaryWriter(stream);
        ((OptimizerHelper)_adamw).save_state_dict(writer);
    }

    public void Restore(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new InvalidDataException($"{directory} has no {FileName}: it was written by a run with float32 master weights " +
                $"({MasterWeightAdamW.FileName}); resume with the same DType and Float32MasterWeights.");
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        ((OptimizerHelper)_adamw).load_state_dict(reader);
    }

    public void Dispose() => _adamw.Dispose();
}
