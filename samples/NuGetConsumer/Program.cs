// A project that uses Microsoft.ML.Preference the way our users do: through its NuGet package.
// It checks that the package restores, that TorchSharp's native library loads on this host with no
// manual step, and that a forward and backward pass run through the package's code.
using Microsoft.ML;
using Microsoft.ML.Preference;
using Microsoft.ML.Preference.Runtime;

var mlContext = new MLContext(seed: 0);
PreferenceCatalog preference = mlContext.Preference;
Console.WriteLine($"mlContext.Preference: {preference.GetType().FullName} (same instance again: {ReferenceEquals(preference, mlContext.Preference)})");

TorchSelfCheckReport report = TorchSelfCheck.Run("cpu");
Console.WriteLine($"native library: {report.Runtime.Outcome}, loaded from {report.Runtime.LoadedLibraryPath}");
Console.WriteLine($"forward/backward on {report.Device}: loss {report.InitialLoss:F4} -> {report.FinalLoss:F4} in {report.Steps} steps");

if (!report.Learned)
{
    Console.Error.WriteLine("The package's TorchSharp check did not learn.");
    return 1;
}
Console.WriteLine("OK: Microsoft.ML.Preference works from its NuGet package.");
return 0;
