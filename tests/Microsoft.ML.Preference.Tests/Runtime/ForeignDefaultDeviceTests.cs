using Microsoft.ML.Preference.Data.Pairs;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Layers;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Tests.Data;
using Microsoft.ML.Preference.Tests.Modeling;
using Microsoft.ML.Preference.Tests.Trainers;
using Microsoft.ML.Preference.Trainers;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Runtime;

/// <summary>
/// The precondition of the CUDA path, checked without a GPU. A trainer tested on the CPU classically fails on its first
/// GPU run where a hot path creates a tensor without naming a device: it lands on the default device (the CPU) beside a
/// model on CUDA. Here the mirror image: model and data on the CPU, libtorch's default device set to meta. A tensor made
/// without a device is then a meta tensor, and the first op that mixes it with the model's fails ("found at least two
/// devices, meta and cpu"), or reading it fails; every kernel is the CPU's, so nothing is skipped for want of a Meta
/// kernel (which is what stops a step with the model itself on meta: MetaKernelGapTests). Host-side buffers (image tiles,
/// RNG states, files' tensors) must say device: CPU, which is also what keeps them right in an application that sets
/// a default device of its own.
/// </summary>
public class ForeignDefaultDeviceTests
{
    [Fact]
    public void ATensorMadeWithoutADeviceLandsOnTheDefaultAndCannotMeetTheModels()
    {
        // Without this the tests below could not fail.
        using var scope = torch.NewDisposeScope();
        var cpu = torch.ones(3, device: torch.CPU);
        using (DefaultDevice(ConstructionDevice.Meta))
        {
            var made = torch.zeros(3);
            Assert.Equal(DeviceType.META, made.device_type);
            Assert.Equal(DeviceType.META, torch.tensor(new long[] { 1, 2 }).device_type);
            var e = Assert.ThrowsAny<Exception>(() => cpu.add(made));
            Assert.Contains("meta and cpu", e.Message);
        }
        Assert.Equal(DeviceType.CPU, torch.zeros(3).device_type);
    }

    [Theory]
    [InlineData("lora")]        // reference = adapters disabled; vision trained with drop-path; evaluation; a checkpoint; CoT prediction
    [InlineData("precomputed")] // full fine-tuning in bfloat16 (float32 master weights), a reference model's log-probs precomputed, MPO-step, accumulation
    [InlineData("sync")]        // a separate reference model moved towards the policy (TR-DPO)
    public void TrainingStepsMakeNoTensorOnTheDefaultDevice(string run)
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(toy.Rows(8, seed: 7));
        var o = MpoTrainerLearningTests.Fast(toy);
        o.Device = "cpu";
        o.MaxSteps = 2;
        o.GradientCheckpointing = true;
        o.FreezeVision = false;
        bool lora = run == "lora";
        if (lora)
        {
            o.Lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0.1 };
            o.VisionDropPathRate = 0.1;
            o.EvalSteps = 1;
            o.SaveSteps = 1;
            o.OutputDirectory = Path.Combine(toy.Root, "run");
        }
        else if (run == "precomputed")
        {
            o.DType = "bfloat16";
            o.Float32MasterWeights = true;
            o.ReferenceModelPath = toy.ModelPath;
            o.PrecomputeReferenceLogProbs = true;
            o.ReferenceCacheDirectory = Path.Combine(toy.Root, "ref-cache");
            o.RejectedSpan = RejectedSpan.FirstDivergentStep;
            o.GradientAccumulationSteps = 2;
            o.BatchSize = 2;
        }
        else
        {
            o.ReferenceModelPath = toy.ModelPath;
            o.ReferenceSyncSteps = 1;
        }
        var validation = ml.Data.LoadFromEnumerable(toy.Rows(4, seed: 8));

        using (DefaultDevice(ConstructionDevice.Meta))
        {
            using var model = ml.Preference.Trainers.Mpo(o).Fit(data, lora ? validation : null);
            Assert.Equal(2, model.TrainingHistory.Count(h => h.Values.ContainsKey("loss")));
            Assert.All(model.TrainingHistory.Where(h => h.Values.ContainsKey("loss")), h => Assert.True(double.IsFinite(h["loss"])));
            if (lora)
            {
                var predictions = model.Transform(ml.Data.LoadFromEnumerable(toy.Rows(2, seed: 9))).Preview(2);
                Assert.Equal(2, predictions.RowView.Length);
            }
        }
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("internlm2")]  // dynamic NTK RoPE
    [InlineData("phi3")]       // fused projections, LongRoPE
    [InlineData("llama")]      // Llama-3 RoPE scaling
    [InlineData("internlm3")]
    [InlineData("qwen3")]      // q/k norms
    public void EachDecoderFamilysForwardBackwardAndDecodingMakeNoTensorOnTheDefaultDevice(string backbone)
    {
        using var f = new TinyModelFixture(backbone);
        using var scope = torch.NewDisposeScope();
        var model = f.Policy;
        model.train();
        model.GradientCheckpointing = true;
        var pixels = f.Case("pixel_values").index_select(0, f.Case("pref_tile_index"));
        using (DefaultDevice(ConstructionDevice.Meta))
        {
            var ids = f.Case("pref_input_ids");
            var policy = LogProbs.Completion(model.Forward(torch.cat([pixels, pixels]), ids, f.Case("pref_attention_mask"), f.Case("pref_image_flags")), f.Case("pref_labels"));
            policy.Sums.sum().backward();
            Assert.All(model.parameters().Where(p => p.requires_grad), p => Assert.Equal(DeviceType.CPU, p.grad!.device_type));

            model.eval();
            var prompt = ids[0, ..8].data<long>().Select(x => (int)x).ToList();
            var generator = new VisionLanguageGenerator(model, null, [], padId: 0);
            var sampled = generator.Generate([new GenerationRequest(prompt, null) { Samples = 2 }],
                new GenerationOptions { MaxNewTokens = 4, Temperature = 1.0, TopK = 10, TopP = 0.9, Seed = 1 });
            Assert.All(sampled, r => Assert.Equal(4, r.TokenIds.Count));
        }
    }

    [Fact]
    public void GenerationAndTheDataEngineMakeNoTensorOnTheDefaultDevice()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        using var model = VisionLanguageModel.Load(toy.ModelPath, device: torch.CPU, systemMessage: "You are a helpful assistant.");
        var questions = PairPipelineTests.Questions(toy, ml, 3);
        using (DefaultDevice(ConstructionDevice.Meta))
        {
            // K samples of each question share one prefill and one image encoding; nucleus and top-k sampling on the way.
            var correctness = ml.Preference.Data.BuildCorrectnessPairs(questions, model, new CorrectnessPipelineOptions
            {
                OutputPath = Path.Combine(toy.Root, "pairs.jsonl"), SamplesPerQuestion = 4, MaxPairsPerQuestion = 2, Seed = 5,
                Sampling = new GenerationOptions { Temperature = 1.0, TopK = 20, TopP = 0.9, MaxNewTokens = 12 },
                Judge = (answer, truth) => string.Equals(answer?.Trim(), truth, StringComparison.OrdinalIgnoreCase),
                RequireReasoning = false,
            });
            Assert.Equal(3, correctness.Statistics.Questions);
            var dropout = ml.Preference.Data.BuildDropoutNtpPairs(questions, model, new DropoutNtpOptions
            {
                OutputPath = Path.Combine(toy.Root, "dropout.jsonl"), Generation = new GenerationOptions { MaxNewTokens = 12 },
            }, responseColumnName: null);
            Assert.Equal(3, dropout.Statistics.Questions);
        }
    }

    /// <summary>Sets libtorch's default device until disposed (the tests of this project run one at a time).</summary>
    private static IDisposable DefaultDevice(torch.Device device)
    {
        TorchRuntime.Initialize();
        var before = torch.get_default_device();
        torch.set_default_device(device);
        return new Restore(() => torch.set_default_device(before));
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
