using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>The result of <see cref="TorchSelfCheck.Run"/>.</summary>
/// <param name="Device">Where it ran.</param>
/// <param name="Threads">TorchSharp's intra-op thread count.</param>
/// <param name="InitialLoss">Loss of the first forward pass.</param>
/// <param name="FinalLoss">Loss after the optimisation steps.</param>
/// <param name="FirstGradientNorm">Global gradient norm of the first backward pass.</param>
/// <param name="Steps">Optimisation steps taken.</param>
/// <param name="Elapsed">Wall time of the whole check.</param>
/// <param name="Runtime">How the native library was prepared.</param>
public sealed record TorchSelfCheckReport(
    string Device, int Threads, double InitialLoss, double FinalLoss, double FirstGradientNorm, int Steps,
    TimeSpan Elapsed, TorchRuntimeStatus Runtime)
{
    /// <summary>True when training moved the loss down, i.e. forward, backward and the optimiser all work.</summary>
    public bool Learned => double.IsFinite(FinalLoss) && FinalLoss < InitialLoss && FirstGradientNorm > 0;
}

/// <summary>
/// Proves that TorchSharp works end to end in this process: a small network is trained for a few AdamW
/// steps on a fixed, separable problem. Used by <c>mpo doctor</c>, the samples and the tests.
/// </summary>
public static class TorchSelfCheck
{
    /// <summary>Runs the check on <paramref name="device"/> ("auto", "cpu", "cuda", ...).</summary>
    public static TorchSelfCheckReport Run(string device = "cpu", int steps = 25, long seed = 0)
    {
        var runtime = TorchRuntime.Initialize();
        var dev = TorchDevices.Resolve(device);
        var clock = Stopwatch.StartNew();
        torch.manual_seed(seed);

        using var net = new SelfCheckNetwork(16, 32, 4).to(dev);
        using var optimizer = torch.optim.AdamW(net.parameters(), lr: 1e-2);
        double initial = double.NaN, final = double.NaN, firstGradNorm = double.NaN;

        using (var data = torch.NewDisposeScope())
        {
            var x = torch.randn(64, 16, device: dev);
            // Labels depend on the input, so the loss can fall well below ln(4).
            var y = x[.., ..4].argmax(1);
            for (int step = 0; step < steps; step++)
            {
                using var scope = torch.NewDisposeScope();
                optimizer.zero_grad();
                var loss = torch.nn.functional.cross_entropy(net.forward(x), y);
                loss.backward();
                if (step == 0)
                {
                    initial = loss.item<float>();
                    firstGradNorm = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm: 1e30);
                }
                optimizer.step();
                final = loss.item<float>();
            }
        }

        return new TorchSelfCheckReport(dev.ToString(), torch.get_num_threads(), initial, final, firstGradNorm, steps, clock.Elapsed, runtime);
    }

    private sealed class SelfCheckNetwork : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> fc1;
        private readonly nn.Module<Tensor, Tensor> fc2;

        public SelfCheckNetwork(int input, int hidden, int classes) : base(nameof(SelfCheckNetwork))
        {
            fc1 = nn.Linear(input, hidden);
            fc2 = nn.Linear(hidden, classes);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => fc2.forward(nn.functional.gelu(fc1.forward(x)));
    }
}
