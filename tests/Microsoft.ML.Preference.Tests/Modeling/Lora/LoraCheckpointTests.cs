using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Tests.Modeling.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Modeling.Lora;

/// <summary>PEFT's folder format: file names, keys, shapes, the config, round trips and refusals.</summary>
public class LoraCheckpointTests
{
    private const string QProjA = "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight";

    [Fact]
    public void FilesKeysAndShapesArePeftsForTheTinyQwen2Model()
    {
        using var f = new TinyModelFixture("qwen2");
        using var tmp = new TempFolder();
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { Rank = 4, Alpha = 16, Dropout = 0.05, BaseModelNameOrPath = "OpenGVLab/InternVL2-1B" });
        adapter.Save(tmp.Path);

        Assert.Equal(["adapter_config.json", "adapter_model.safetensors"], Directory.GetFiles(tmp.Path).Select(Path.GetFileName).Order());
        using var file = SafetensorsFile.Open(tmp.File("adapter_model.safetensors"));
        Assert.Equal("pt", file.Metadata["format"]);
        var expected = LoraTestModels.DecoderTargets("qwen2")
            .SelectMany(t => new[] { $"base_model.model.{t}.lora_A.weight", $"base_model.model.{t}.lora_B.weight" });
        Assert.Equal(expected, file.Names);
        Assert.Equal(QProjA, file.Names[0]);
        Assert.All(file.Tensors.Values, t => Assert.Equal("F32", t.DType));
        // hidden 32, 4 query heads and 2 KV heads of 8, MLP 64.
        Assert.Equal(new[] { 4L, 32 }, file.GetInfo(QProjA).ShapeArray());
        Assert.Equal(new[] { 32L, 4 }, file.GetInfo("base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_B.weight").ShapeArray());
        Assert.Equal(new[] { 16L, 4 }, file.GetInfo("base_model.model.language_model.model.layers.1.self_attn.k_proj.lora_B.weight").ShapeArray());
        Assert.Equal(new[] { 4L, 64 }, file.GetInfo("base_model.model.language_model.model.layers.1.mlp.down_proj.lora_A.weight").ShapeArray());
        Assert.Equal(new[] { 64L, 4 }, file.GetInfo("base_model.model.language_model.model.layers.1.mlp.up_proj.lora_B.weight").ShapeArray());
        foreach (var (key, tensor) in adapter.PeftStateDict())
            Assert.True(LoraTestModels.BitIdentical(tensor, file.Read(key)), key);

        // adapter_config.json as PeftConfigMixin.save_pretrained writes it (json.dumps(indent=2, sort_keys=True)).
        const string expectedConfig = """
            {
              "alpha_pattern": {},
              "auto_mapping": null,
              "base_model_name_or_path": "OpenGVLab/InternVL2-1B",
              "bias": "none",
              "fan_in_fan_out": false,
              "inference_mode": true,
              "init_lora_weights": true,
              "layers_pattern": null,
              "layers_to_transform": null,
              "lora_alpha": 16,
              "lora_dropout": 0.05,
              "modules_to_save": null,
              "peft_type": "LORA",
              "r": 4,
              "rank_pattern": {},
              "revision": null,
              "target_modules": [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj"
              ],
              "task_type": null,
              "use_dora": false,
              "use_rslora": false
            }
            """;
        Assert.Equal(expectedConfig.ReplaceLineEndings("\n"), File.ReadAllText(tmp.File("adapter_config.json")));
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("internlm2")]
    public void SaveThenLoadIntoAFreshModelGivesIdenticalOutputs(string backbone)
    {
        using var f = new TinyModelFixture(backbone);
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        var options = new LoraOptions
        {
            Rank = 4, Alpha = 8, Dropout = 0.1, UseRsLora = true, IncludeVisionEncoder = true, IncludeProjector = true,
            InitLoraWeights = false, Seed = 21, TaskType = "CAUSAL_LM",
        };
        using var adapter = LoraAdapter.Attach(f.Policy, options);
        var logits = LoraTestModels.Logits(f);
        adapter.Save(tmp.Path);

        using var fresh = InternVLModelFolder.Load(TinyModelFixture.Folder(backbone));
        using var loaded = LoraAdapter.Load(fresh, tmp.Path);
        Assert.Equal(adapter.TargetNames, loaded.TargetNames);
        Assert.Equal(adapter.Options.TargetModules, loaded.Options.TargetModules);
        Assert.Equal((4, 8.0, 0.1, true, "CAUSAL_LM", false),
            (loaded.Options.Rank, loaded.Options.Alpha, loaded.Options.Dropout, loaded.Options.UseRsLora, loaded.Options.TaskType, loaded.Options.InitLoraWeights));
        Assert.Equal(adapter.Scale, loaded.Scale);
        foreach (var ((key, saved), (loadedKey, restored)) in adapter.PeftStateDict().Zip(loaded.PeftStateDict()))
        {
            Assert.Equal(key, loadedKey);
            Assert.True(LoraTestModels.BitIdentical(saved, restored), key);
            Assert.False(restored.requires_grad); // PEFT's default is_trainable=False
        }
        Assert.True(LoraTestModels.BitIdentical(logits, LoraTestModels.Logits(f, fresh)));

        // Merged, every target counts (the decoder's and the ViT's too): still identical.
        adapter.Merge();
        loaded.Merge();
        Assert.True(LoraTestModels.BitIdentical(LoraTestModels.Logits(f), LoraTestModels.Logits(f, fresh)));
        loaded.Unmerge();
        adapter.Unmerge();

        loaded.Dispose();
        using var trainable = LoraAdapter.Load(fresh, tmp.Path, trainable: true);
        Assert.All(trainable.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void RegexTargetsAreSavedAsAStringAndSelectTheSameLayers()
    {
        using var f = new TinyModelFixture("internlm2");
        using var tmp = new TempFolder();
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { TargetModulesRegex = @".*\.attention\.(wqkv|wo)|mlp1\.3", InitLoraWeights = false });
        adapter.Save(tmp.Path);
        var config = JsonNode.Parse(File.ReadAllText(tmp.File("adapter_config.json")))!;
        Assert.Equal(@".*\.attention\.(wqkv|wo)|mlp1\.3", config["target_modules"]!.GetValue<string>());

        using var fresh = InternVLModelFolder.Load(TinyModelFixture.Folder("internlm2"));
        using var loaded = LoraAdapter.Load(fresh, tmp.Path);
        Assert.Equal(5, loaded.TargetNames.Count);
        Assert.Equal(adapter.TargetNames, loaded.TargetNames);
    }

    [Fact]
    public void AConfigWrittenByPeftIsRead()
    {
        using var tmp = new TempFolder();
        // PEFT 0.13-style LoRA config with fields this package does not write (and ignores when they are off).
        tmp.Write("adapter_config.json", """
            {
              "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "OpenGVLab/InternVL2-8B", "bias": "none",
              "corda_config": null, "eva_config": null, "exclude_modules": null, "fan_in_fan_out": false, "inference_mode": true,
              "init_lora_weights": true, "layer_replication": null, "layers_pattern": null, "layers_to_transform": null,
              "loftq_config": {}, "lora_alpha": 256, "lora_bias": false, "lora_dropout": 0.05, "megatron_config": null,
              "megatron_core": "megatron.core", "modules_to_save": null, "peft_type": "LORA", "r": 128, "rank_pattern": {},
              "revision": null, "target_modules": ["attention.wqkv", "attention.wo", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"],
              "task_type": "CAUSAL_LM", "trainable_token_indices": null, "use_dora": false, "use_rslora": false
            }
            """);
        var options = LoraCheckpoint.ReadConfig(tmp.Path);
        Assert.Equal(128, options.Rank);
        Assert.Equal(256, options.Alpha);
        Assert.Equal(0.05, options.Dropout);
        Assert.Equal(2.0, options.Scale);
        Assert.Equal(["attention.wqkv", "attention.wo", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"], options.TargetModules);
        Assert.Equal("CAUSAL_LM", options.TaskType);
        Assert.Equal("OpenGVLab/InternVL2-8B", options.BaseModelNameOrPath);
    }

    public static TheoryData<string, string, string> BadWeights => new()
    {
        // name of the mutation, the key the error must name, a phrase of the problem
        { "unknown layer", "base_model.model.language_model.model.layers.9.self_attn.q_proj.lora_A.weight", "does not have" },
        { "not a Linear", "base_model.model.language_model.model.norm.lora_A.weight", "RmsNorm, not a Linear" },
        { "not selected", "base_model.model.language_model.lm_head.lora_A.weight", "does not select" },
        { "no prefix", "language_model.model.layers.0.self_attn.q_proj.lora_A.weight", "base_model.model." },
        { "adapter name", "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.default.weight", "adapter name" },
        { "missing B", "base_model.model.language_model.model.layers.1.mlp.down_proj.lora_B.weight", "is missing" },
        { "wrong shape", QProjA, "[4, 33]" },
    };

    [Theory]
    [MemberData(nameof(BadWeights))]
    public void WeightsThatDoNotFitTheModelAreRefusedByKey(string mutation, string key, string phrase)
    {
        using var f = new TinyModelFixture("qwen2");
        using var tmp = SavedAdapter(f);
        var tensors = ReadAll(tmp.File("adapter_model.safetensors"));
        switch (mutation)
        {
            case "missing B":
                tensors.RemoveAll(t => t.Name == key);
                break;
            case "wrong shape":
                tensors[0] = (key, torch.zeros(4, 33));
                break;
            default:
                tensors.Add((key, torch.zeros(4, 32)));
                break;
        }
        SafetensorsWriter.Write(tmp.File("adapter_model.safetensors"), tensors);

        using var fresh = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2"));
        var e = Assert.Throws<InvalidDataException>(() => LoraAdapter.Load(fresh, tmp.Path));
        Assert.Contains("adapter_model.safetensors", e.Message);
        Assert.Contains(key, e.Message);
        Assert.Contains(phrase, e.Message);
        Assert.Equal(key, e.Data[CheckpointFormatErrors.TensorNameKey]);
        // A failed load leaves no hooks behind.
        using var again = LoraAdapter.Attach(fresh);
        Assert.Equal(14, again.TargetNames.Count);
    }

    [Fact]
    public void ARankThatDisagreesWithTheConfigIsRefusedNamingTheKeyAndR()
    {
        using var f = new TinyModelFixture("qwen2");
        using var tmp = SavedAdapter(f);
        EditConfig(tmp, c => c["r"] = 8);
        using var fresh = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2"));
        var e = Assert.Throws<InvalidDataException>(() => LoraAdapter.Load(fresh, tmp.Path));
        Assert.Contains(QProjA, e.Message);
        Assert.Contains("r = 8", e.Message);
        Assert.Contains("[8, 32]", e.Message);
    }

    public static TheoryData<string, string, string> BadConfigs => new()
    {
        { "peft_type", "\"IA3\"", "only \"LORA\"" },
        { "use_dora", "true", "DoRA" },
        { "bias", "\"all\"", "biases" },
        { "fan_in_fan_out", "true", "Conv1D" },
        { "modules_to_save", "[\"lm_head\"]", "not supported" },
        { "rank_pattern", "{\"q_proj\": 16}", "per-layer" },
        { "layers_to_transform", "[0]", "decoder layers" },
        { "init_lora_weights", "\"pissa\"", "rewrites the base weights" },
        { "target_modules", "\"all-linear\"", "all-linear" },
        { "target_modules", "[\"nothing_like_this\"]", "does not fit the model" },
        { "target_modules", "null", "target_modules is missing" },
        { "r", "2.5", "integer" },
        { "lora_dropout", "1.5", "lora_dropout" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void ConfigsThisPackageCannotApplyAreRefusedByField(string field, string json, string phrase)
    {
        using var f = new TinyModelFixture("qwen2");
        using var tmp = SavedAdapter(f);
        EditConfig(tmp, c => c[field] = JsonNode.Parse(json));
        using var fresh = InternVLModelFolder.Load(TinyModelFixture.Folder("qwen2"));
        var e = Assert.Throws<InvalidDataException>(() => LoraAdapter.Load(fresh, tmp.Path));
        Assert.Contains("adapter_config.json", e.Message);
        Assert.Contains(phrase, e.Message);
    }

    [Fact]
    public void PickledWeightsAndMissingFilesAreRefused()
    {
        using var f = new TinyModelFixture("qwen2");
        using var tmp = SavedAdapter(f);
        File.Move(tmp.File("adapter_model.safetensors"), tmp.File("adapter_model.bin"));
        var pickle = Assert.Throws<InvalidDataException>(() => LoraAdapter.Load(f.Policy, tmp.Path));
        Assert.Contains("adapter_model.bin", pickle.Message);
        Assert.Contains("pickled", pickle.Message);
        File.Delete(tmp.File("adapter_model.bin"));
        Assert.Throws<FileNotFoundException>(() => LoraAdapter.Load(f.Policy, tmp.Path));
        File.Delete(tmp.File("adapter_config.json"));
        Assert.Throws<FileNotFoundException>(() => LoraAdapter.Load(f.Policy, tmp.Path));
        Assert.Throws<DirectoryNotFoundException>(() => LoraAdapter.Load(f.Policy, tmp.File("nowhere")));
        tmp.Write("adapter_config.json", "{ not json");
        Assert.Throws<InvalidDataException>(() => LoraCheckpoint.ReadConfig(tmp.Path));
    }

    /// <summary>A valid adapter folder of the default Qwen2 targets with r = 4.</summary>
    private static TempFolder SavedAdapter(TinyModelFixture f)
    {
        var tmp = new TempFolder();
        using var adapter = LoraAdapter.Attach(f.Policy, new LoraOptions { Rank = 4, InitLoraWeights = false });
        adapter.Save(tmp.Path);
        return tmp;
    }

    private static List<(string Name, Tensor Tensor)> ReadAll(string path)
    {
        using var file = SafetensorsFile.Open(path);
        return file.Names.Select(n => (n, file.Read(n))).ToList();
    }

    private static void EditConfig(TempFolder tmp, Action<JsonObject> edit)
    {
        var config = JsonNode.Parse(File.ReadAllText(tmp.File("adapter_config.json")))!.AsObject();
        edit(config);
        tmp.Write("adapter_config.json", config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
