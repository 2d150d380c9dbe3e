using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling;

/// <summary>
/// The tiny InternVL fixtures (tests/Microsoft.ML.Preference.Tests/TestData; each folder's README says how it was made): a policy folder, a
/// reference folder and cases.safetensors with inputs and expected activations from an independent PyTorch
/// implementation. "qwen2" = tiny-internvl (Qwen2 decoder, sharded), "internlm2" = tiny-internvl-internlm2,
/// "phi3", "llama", "internlm3", "qwen3" = tiny-internvl-families/NAME (made by generate.py there).
/// </summary>
internal sealed class TinyModelFixture : IDisposable
{
    public static string Folder(string backbone) => Path.Combine(AppContext.BaseDirectory, "TestData", backbone switch
    {
        "qwen2" => "tiny-internvl",
        "internlm2" => "tiny-internvl-internlm2",
        _ => Path.Combine("tiny-internvl-families", backbone),
    });

    /// <summary>The families whose fixtures generate.py made (vision tower shared with the InternLM2 fixture).</summary>
    public static TheoryData<string> GeneratedFamilies => new() { "phi3", "llama", "internlm3", "qwen3" };

    public string Directory { get; }
    public InternVLChatModel Policy { get; }
    private readonly SafetensorsFile _cases;

    public TinyModelFixture(string backbone, string casesFile = "cases.safetensors")
    {
        TorchRuntime.Initialize();
        Directory = Folder(backbone);
        Policy = InternVLModelFolder.Load(Directory);
        _cases = SafetensorsFile.Open(Path.Combine(Directory, casesFile));
    }

    public Tensor Case(string name) => _cases.Read(name);

    public bool HasCase(string name) => _cases.Contains(name);

    public IEnumerable<string> CaseNames => _cases.Names;

    public InternVLChatModel LoadReference() => InternVLModelFolder.Load(Path.Combine(Directory, "ref-model"), imageContextTokenId: Policy.ImageContextTokenId);

    public void Dispose()
    {
        Policy.Dispose();
        _cases.Dispose();
    }

    public static double MaxAbsDiff(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var d = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }

    public static void AssertClose(Tensor expected, Tensor actual, double tolerance, string what)
    {
        double diff = MaxAbsDiff(actual, expected);
        Assert.True(diff <= tolerance, $"{what}: max |diff| {diff:E3} > {tolerance:E1}");
    }
}
