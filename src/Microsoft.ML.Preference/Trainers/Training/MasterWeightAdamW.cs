using System.Globalization;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// bf16 mixed precision: the model computes in bf16, while AdamW updates a float32 master copy of every trainable
/// parameter with float32 moments, and the rounded result is written back to the bf16 weights after each step (what
/// DeepSpeed's bf16 optimizer and Megatron do). Updating the bf16 weights in place loses every update smaller than
/// half a bf16 step of the weight (2^-9 of its magnitude), which at learning rates near 1e-6 is most of them.
/// The update is torch.optim.AdamW's (torch/optim/adamw.py, decoupled weight decay, bias-corrected moments); clipping
/// is torch.nn.utils.clip_grad_norm_'s (coefficient max / (norm + 1e-6), at most 1), both in float32.
/// Gradients of several micro-batches are summed in float32 when <c>accumulate</c> is set; with one micro-batch per
/// step the bf16 gradient is converted one parameter at a time, so nothing more is kept.
/// State: <c>master_weights.safetensors</c> in the checkpoint (master copies, moments, per-parameter step counts).
/// </summary>
internal sealed class MasterWeightAdamW : ITrainingOptimizer
{
    public const string FileName = "master_weights.safetensors";
    private const string StepsKey = "steps";

    private readonly IReadOnlyList<Parameter> _parameters;
    private readonly Tensor[] _master;
    private readonly Tensor[] _expAvg;
    private readonly Tensor[] _expAvgSq;
    private readonly Tensor?[] _gradSums;
    private readonly bool[] _hasGrad;
    private readonly long[] _steps;
    private readonly double _beta1, _beta2, _epsilon, _weightDecay;
    private double _clipCoefficient = 1;

    public MasterWeightAdamW(IReadOnlyList<Parameter> parameters, double beta1, double beta2, double epsilon, double weightDecay, bool accumulate)
    {
        _parameters = parameters;
        (_beta1, _beta2, _epsilon, _weightDecay) = (beta1, beta2, epsilon, weightDecay);
        int n = parameters.Count;
        _master = new Tensor[n];
        _expAvg = new Tensor[n];
        _expAvgSq = new Tensor[n];
        _gradSums = new Tensor?[n];
        _hasGrad = new bool[n];
        _steps = new long[n];
        using var noGrad = torch.no_grad();
        for (int i = 0; i < n; i++)
        {
            _master[i] = parameters[i].detach().to(ScalarType.Float32, copy: true).DetachFromDisposeScope();
            _expAvg[i] = torch.zeros_like(_master[i]).DetachFromDisposeScope();
            _expAvgSq[i] = torch.zeros_like(_master[i]).DetachFromDisposeScope();
            _gradSums[i] = accumulate ? torch.zeros_like(_master[i]).DetachFromDisposeScope() : null;
        }
    }

    /// <summary>The float32 master copy of trainable parameter <paramref name="index"/> (what the bf16 weight rounds).</summary>
    public Tensor Master(int index) => _master[index];

    public void ZeroGrad()
    {
        using var scope = torch.NewDisposeScope();
        for (int i = 0; i < _parameters.Count; i++)
        {
            _parameters[i].grad?.zero_();
            _gradSums[i]?.zero_();
            _hasGrad[i] = false;
        }
        _clipCoefficient = 1;
    }

    public void AfterBackward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        for (int i = 0; i < _parameters.Count; i++)
        {
            if (_parameters[i].grad is not { } grad)
                continue;
            _hasGrad[i] = true;
            if (_gradSums[i] is { } sum)
            {
                // Summed in float32, then cleared: the next micro-batch's bf16 gradient starts from 0.
                sum.add_(grad);
                grad.zero_();
            }
        }
    }

    public double ClipGradNorm(double maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // Summed on the gradients' device and read once: one synchronisation per step on a GPU, not one per parameter.
        Tensor? squares = null;
        for (int i = 0; i < _parameters.Count; i++)
        {
            if (Gradient(i) is { } g)
            {
                var square = g.pow(2).sum().to(ScalarType.Float64);
                squares = squares is null ? square : squares.add_(square);
            }
        }
        double norm = squares is null ? 0 : Math.Sqrt(squares.item<double>());
        _clipCoefficient = Math.Min(1.0, maxNorm / (norm + 1e-6));
        return norm;
    }

    public void Step(double learningRate)
    {
        using var noGrad = torch.no_grad();
        for (int i = 0; i < _parameters.Count; i++)
        {
            using var scope = torch.NewDisposeScope();
            if (Gradient(i) is not { } g)
                continue;
            if (_clipCoefficient < 1)
                g = g * _clipCoefficient;
            long step = ++_steps[i];
            var master = _master[i];
            master.mul_(1 - learningRate * _weightDecay);
            _expAvg[i].mul_(_beta1).add_(g, alpha: 1 - _beta1);
            _expAvgSq[i].mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
            double biasCorrection1 = 1 - Math.Pow(_beta1, step);
            double biasCorrection2 = 1 - Math.Pow(_beta2, step);
            var denominator = (_expAvgSq[i].sqrt() / Math.Sqrt(biasCorrection2)).add_(_epsilon);
            master.addcdiv_(_expAvg[i], denominator, value: -learningRate / biasCorrection1);
            _parameters[i].copy_(master);
        }
    }

    /// <summary>The float32 gradient of parameter <paramref name="index"/> for this step; null when it got none.</summary>
    private Tensor? Gradient(int index)
    {
        if (!_hasGrad[index])
            return null;
        return _gradSums[index] ?? _parameters[index].grad!.to(ScalarType.Float32);
    }

    public void Save(string directory)
    {
        var tensors = new List<(string, Tensor)>();
        for (int i = 0; i < _master.Length; i++)
        {
            tensors.Add(($"{i}.master", _master[i]));
            tensors.Add(($"{i}.exp_avg", _expAvg[i]));
            tensors.Add(($"{i}.exp_avg_sq", _expAvgSq[i]));
        }
        SafetensorsWriter.Write(Path.Combine(directory, FileName), tensors,
            new Dictionary<string, string> { [StepsKey] = string.Join(",", _steps.Select(s => s.ToString(CultureInfo.InvariantCulture))) });
    }

    public void Restore(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new InvalidDataException($"{directory} has no {FileName}: it was written without float32 master weights " +
                $"({TorchAdamW.FileName}); resume with the same DType and Float32MasterWeights.");
        using var file = SafetensorsFile.Open(path);
        var steps = file.Metadata.GetValueOrDefault(StepsKey)?.Split(',') ?? [];
        if (steps.Length != _master.Length)
            throw new InvalidDataException($"{path}: {steps.Length} parameters' steps for {_master.Length} trainable parameters; resume with the same trainable parameters.");
        using var noGrad = torch.no_grad();
        for (int i = 0; i < _master.Length; i++)
        {
            using var scope = torch.NewDisposeScope();
            Load(file, $"{i}.master", _master[i], path);
            Load(file, $"{i}.exp_avg", _expAvg[i], path);
            Load(file, $"{i}.exp_avg_sq", _expAvgSq[i], path);
            _steps[i] = long.Parse(steps[i], CultureInfo.InvariantCulture);
            _parameters[i].copy_(_master[i]);
        }
    }

    private static void Load(SafetensorsFile file, string name, Tensor into, string path)
    {
        if (!file.Contains(name))
            throw new InvalidDataException($"{path}: tensor '{name}' is missing; resume with the same trainable parameters.");
        var saved = file.Read(name, ScalarType.Float32);
        if (!saved.shape.SequenceEqual(into.shape))
            throw new InvalidDataException($"{path}: '{name}' has shape [{string.Join(", ", saved.shape)}], the parameter [{string.Join(", ", into.shape)}].");
        into.copy_(saved);
    }

    public void Dispose()
    {
        foreach (var t in _master.Concat(_expAvg).Concat(_expAvgSq).Concat(_gradSums.OfType<Tensor>()))
            t.Dispose();
    }
}
