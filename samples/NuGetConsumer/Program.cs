// A project that uses Microsoft.ML.Preference the way our users do: through its NuGet package.
// It checks that the package restores, that TorchSharp's native library loads on this host with no
// manual step, and that the package's model code runs: a tiny InternVL model is made, saved as a
// Hugging Face folder, loaded back and asked a question about an image.
using Microsoft.ML;
using Microsoft.ML.Preference;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
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

var folder = Path.Combine(Path.GetTempPath(), "nuget-consumer-tiny-internvl");
TinyInternVLFactory.Create(folder, ["What is in the picture? A red square."]);
using var model = VisionLanguageModel.Load(folder);
var image = Path.Combine(folder, "white.png");
using (var bitmap = new SkiaSharp.SKBitmap(56, 56))
{
    bitmap.Erase(SkiaSharp.SKColors.White);
    File.WriteAllBytes(image, bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100).ToArray());
}
var answer = model.Answer([([new ImageSource.FromFile(image)], "What is in the picture?")], AnswerMode.Direct, new GenerationOptions { MaxNewTokens = 8 })[0];
Console.WriteLine($"tiny InternVL ({model.Model.Config.Language.Architecture}) generated {answer.TokenIds.Count} tokens ({answer.Reason}).");
Console.WriteLine("OK: Microsoft.ML.Preference works from its NuGet package.");
return 0;
