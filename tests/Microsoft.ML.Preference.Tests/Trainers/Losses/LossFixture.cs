using System.Text.Json;
using Microsoft.ML.Preference.Trainers.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers.Losses;

/// <summary>
/// Reads TestData/losses/losses.json (a copy of shared/fixtures/tiny-internvl/losses.json: TRL v0.27.2 loss values
/// computed in float64 on float32-exact inputs) and compares tensors with it.
/// </summary>
internal static class LossFixture
{
    /// <summary>The fixture's tolerance: |actual − expected| ≤ 1e-5·(1 + |expected|).</summary>
    public const double Tolerance = 1e-5;

    private static readonly Lazy<JsonElement> Root = new(() => Load("losses", "losses.json"));

    public static JsonElement Json => Root.Value;
    public static JsonElement Inputs => Json.GetProperty("inputs");
    public static JsonElement Results => Json.GetProperty("results");
    public static JsonElement Result(string key) => Results.GetProperty(key);
    public static double Beta => Json.GetProperty("beta").GetDouble();

    public static JsonElement Load(params string[] path)
    {
        var file = Path.Combine([AppContext.BaseDirectory, "TestData", .. path]);
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        return doc.RootElement.Clone();
    }

    public static double[] Doubles(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToArray();
    public static double[] Doubles(string inputName) => Doubles(Inputs.GetProperty(inputName));
    public static double[][] Rows(string inputName) => Inputs.GetProperty(inputName).EnumerateArray().Select(Doubles).ToArray();

    /// <summary>A float32 (or float64) vector; the fixture's inputs are exact in float32.</summary>
    public static Tensor Vector(double[] values, ScalarType dtype = ScalarType.Float32, bool requiresGrad = false) =>
        torch.tensor(values, dtype: dtype).requires_grad_(requiresGrad);

    public static Tensor Counts(string inputName) =>
        torch.tensor(Doubles(inputName).Select(v => (long)v).ToArray(), dtype: ScalarType.Int64);

    /// <summary>The fixture's four log-prob vectors and counts (step-1 policy unless <paramref name="step2"/>).</summary>
    public static PreferenceLossInputs StandardInputs(ScalarType dtype = ScalarType.Float32, bool step2 = false, bool requiresGrad = false) => new(
        Vector(Doubles(step2 ? "policy_chosen_logps_step2" : "policy_chosen_logps"), dtype, requiresGrad),
        Vector(Doubles(step2 ? "policy_rejected_logps_step2" : "policy_rejected_logps"), dtype, requiresGrad),
        Vector(Doubles("ref_chosen_logps"), dtype),
        Vector(Doubles("ref_rejected_logps"), dtype),
        Counts("chosen_token_counts"),
        Counts("rejected_token_counts"));

    public static double[] ToDoubles(Tensor t) => t.detach().to_type(ScalarType.Float64).cpu().data<double>().ToArray();

    /// <summary>max_i |a_i − e_i| / (1 + |e_i|).</summary>
    public static double Deviation(double[] actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        return actual.Zip(expected, (a, e) => Math.Abs(a - e) / (1 + Math.Abs(e))).Max();
    }

    /// <summary>Asserts within <paramref name="tolerance"/> and returns the deviation, for the report.</summary>
    public static double AssertClose(Tensor actual, double[] expected, string what, double tolerance = Tolerance)
    {
        var a = ToDoubles(actual);
        double dev = Deviation(a, expected);
        Assert.True(dev <= tolerance,
            $"{what}: max relative deviation {dev:E3} > {tolerance:E0}\n  actual   [{string.Join(", ", a)}]\n  expected [{string.Join(", ", expected)}]");
        return dev;
    }

    public static double AssertClose(double actual, double expected, string what, double tolerance = Tolerance)
    {
        double dev = Math.Abs(actual - expected) / (1 + Math.Abs(expected));
        Assert.True(dev <= tolerance, $"{what}: {actual} vs expected {expected} (relative deviation {dev:E3} > {tolerance:E0})");
        return dev;
    }
}
