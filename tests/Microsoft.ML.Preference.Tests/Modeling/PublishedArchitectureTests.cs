using System.Text.Json;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Text.Templates;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Modeling;

/// <summary>
/// Every published InternVL2 / 2.5 / 3 architecture (TestData/published-configs, rebuilt by make_configs.py from the
/// published facts) built on the meta device: its parameter names and shapes equal the approved list beside the
/// config, its total is within 1% of the published size, and its chat template resolves.
/// </summary>
public class PublishedArchitectureTests
{
    private static string Folder => Path.Combine(AppContext.BaseDirectory, "TestData", "published-configs");

    public static TheoryData<string> Models => new(JsonDocument.Parse(File.ReadAllText(
        Path.Combine(AppContext.BaseDirectory, "TestData", "published-configs", "published-sizes.json")))
        .RootElement.EnumerateObject().Select(p => p.Name));

    [Theory]
    [MemberData(nameof(Models))]
    public void BuildsOnTheMetaDeviceWithTheApprovedParametersAndThePublishedSize(string name)
    {
        TorchRuntime.Initialize();
        var config = InternVLConfig.Load(Path.Combine(Folder, name + ".json"));
        InternVLChatModel model;
        using (ConstructionDevice.Use(ConstructionDevice.Meta))
            model = new InternVLChatModel(config, imageContextTokenId: 0);
        using var owned = model;
        var parameters = model.named_parameters().ToList();
        Assert.All(parameters, p => Assert.Equal(DeviceType.META, p.parameter.device_type));

        var lines = parameters.Select(p => $"{p.name} [{string.Join(", ", p.parameter.shape)}]").ToList();
        var approvedPath = Path.Combine(Folder, name + ".params.txt");
        var approved = File.Exists(approvedPath) ? File.ReadAllLines(approvedPath) : [];
        if (!approved.SequenceEqual(lines))
        {
            var received = Path.Combine(Folder, name + ".params.received.txt");
            File.WriteAllLines(received, lines);
            Assert.Fail($"{name}: parameters differ from {approvedPath}; what the model has is in {received}.");
        }

        double published = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "published-sizes.json"))).RootElement.GetProperty(name).GetDouble() * 1e9;
        long total = parameters.Sum(p => p.parameter.numel());
        Assert.InRange(total / published, 0.99, 1.01);
        Assert.True(ChatTemplates.TryGet(config.Template, out _), $"{name}: template {config.Template} does not resolve");
    }
}
