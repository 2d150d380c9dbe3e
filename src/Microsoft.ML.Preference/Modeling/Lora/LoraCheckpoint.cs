using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using Microsoft.ML.Preference.Modeling.Checkpoints;

namespace Microsoft.ML.Preference.Modeling.Lora;

/// <summary>
/// LoRA adapters in PEFT's folder format, so that Python's <c>PeftModel.from_pretrained(model, folder)</c> loads what
/// this package writes and the other way round. What is followed, from PEFT's sources and docs:
/// <list type="bullet">
/// <item>file names <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> (peft/utils/constants.py
/// <c>CONFIG_NAME</c>, <c>SAFETENSORS_WEIGHTS_NAME</c>), the weights written with metadata <c>{"format": "pt"}</c>
/// (<c>PeftModel.save_pretrained</c>);</item>
/// <item>keys <c>base_model.model.&lt;module path&gt;.lora_A.weight</c> / <c>.lora_B.weight</c>: PeftModel wraps a
/// LoraModel that wraps the model, hence the prefix, and <c>get_peft_model_state_dict</c> removes the adapter name
/// (<c>lora_A.default.weight</c> → <c>lora_A.weight</c>) (peft/utils/save_and_load.py; docs
/// developer_guides/checkpoint.md, "PEFT checkpoint format");</item>
/// <item>lora_A [r, in], lora_B [out, r], bias-free (<c>LoraLayer.update_layer</c>), only <c>lora_</c> tensors saved
/// for <c>bias="none"</c>;</item>
/// <item>the config as <c>PeftConfigMixin.save_pretrained</c> writes it: sorted keys, indent 2, <c>inference_mode</c>
/// true in the file, <c>target_modules</c> a list of names/suffixes or a regex string (LoraConfig).</item>
/// </list>
/// Loading refuses what it cannot reproduce exactly (DoRA, biases, modules_to_save, per-layer rank or alpha
/// patterns, layer selection, initialisations that rewrite the base weights, pickled adapter_model.bin) with an
/// <see cref="InvalidDataException"/> that names the file and the key.
/// </summary>
internal static class LoraCheckpoint
{
    /// <summary>PEFT's config file name.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>PEFT's safetensors weights file name.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>The pickled weights file of older PEFT versions, which this package never reads.</summary>
    public const string PickleWeightsFileName = "adapter_model.bin";

    /// <summary>The prefix of every saved key: PeftModel.base_model (LoraModel) .model (the wrapped model).</summary>
    public const string KeyPrefix = "base_model.model.";

    /// <summary>The saved key of <paramref name="matrix"/> ("lora_A" or "lora_B") of the layer <paramref name="targetName"/>.</summary>
    public static string KeyOf(string targetName, string matrix) => $"{KeyPrefix}{targetName}.{matrix}.weight";

    /// <summary>Writes <c>adapter_model.safetensors</c> and <c>adapter_config.json</c> into <paramref name="folder"/>, each atomically.</summary>
    public static void Save(LoraAdapter adapter, string folder)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        Directory.CreateDirectory(folder);
        SafetensorsWriter.Write(Path.Combine(folder, WeightsFileName),
            adapter.PeftStateDict().Select(p => (p.Key, (torch.Tensor)p.Tensor)),
            SafetensorsWriter.DefaultMetadata);
        var json = ConfigJson(adapter.Options);
        AtomicFile.Write(Path.Combine(folder, ConfigFileName), stream => stream.Write(json));
    }

    /// <summary>
    /// The adapter_config.json text of <paramref name="options"/>: PEFT's LoraConfig fields that describe a plain
    /// LoRA adapter, in sorted order as PEFT writes them.
    /// </summary>
    public static byte[] ConfigJson(LoraOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var buffer = new MemoryStream();
        // Python's json.dumps(indent=2, sort_keys=True): two-space indent, "\n" line ends, no escaping beyond JSON's own.
        var settings = new JsonWriterOptions { Indented = true, NewLine = "\n", Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var json = new Utf8JsonWriter(buffer, settings))
        {
            json.WriteStartObject();
            json.WriteStartObject("alpha_pattern");
            json.WriteEndObject();
            json.WriteNull("auto_mapping");
            WriteStringOrNull(json, "base_model_name_or_path", options.BaseModelNameOrPath);
            json.WriteString("bias", "none");
            json.WriteBoolean("fan_in_fan_out", false);
            json.WriteBoolean("inference_mode", true);
            json.WriteBoolean("init_lora_weights", options.InitLoraWeights);
            json.WriteNull("layers_pattern");
            json.WriteNull("layers_to_transform");
            json.WritePropertyName("lora_alpha");
            json.WriteRawValue(PythonNumber(options.Alpha, integralAsInt: true));
            json.WritePropertyName("lora_dropout");
            json.WriteRawValue(PythonNumber(options.Dropout, integralAsInt: false));
            json.WriteNull("modules_to_save");
            json.WriteString("peft_type", "LORA");
            json.WriteNumber("r", options.Rank);
            json.WriteStartObject("rank_pattern");
            json.WriteEndObject();
            json.WriteNull("revision");
            if (options.TargetModulesRegex is { } regex)
                json.WriteString("target_modules", regex);
            else
            {
                json.WriteStartArray("target_modules");
                foreach (var name in options.TargetModules ?? [])
                    json.WriteStringValue(name);
                json.WriteEndArray();
            }
            WriteStringOrNull(json, "task_type", options.TaskType);
            json.WriteBoolean("use_dora", false);
            json.WriteBoolean("use_rslora", options.UseRsLora);
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Reads <c>adapter_config.json</c> from <paramref name="folder"/> into options (targets as written, seed 0).
    /// </summary>
    /// <exception cref="FileNotFoundException">No config file.</exception>
    /// <exception cref="InvalidDataException">Not a plain LoRA config this package can apply; names the field.</exception>
    public static LoraOptions ReadConfig(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var path = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{folder}' has no {ConfigFileName}, so it is not a PEFT adapter folder.", path);
        JsonDocument doc;
        try
        {
            using var stream = File.OpenRead(path);
            doc = JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw Error(path, null, $"not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Error(path, null, "the top level must be a JSON object");
            var config = new ConfigReader(root, path);

            var peftType = config.String("peft_type");
            if (peftType != "LORA")
                throw Error(path, null, $"peft_type is {(peftType is null ? "missing" : $"'{peftType}'")}; only \"LORA\" adapters are supported");
            config.RefuseUnless("bias", v => v.ValueKind == JsonValueKind.String && v.GetString() == "none",
                "trains and saves base-layer biases, which this package does not support (only \"none\")");
            config.RefuseUnless("fan_in_fan_out", v => v.ValueKind == JsonValueKind.False,
                "is for Conv1D (GPT-2) layers; InternVL's layers are Linear");
            config.RefuseUnless("use_dora", v => v.ValueKind == JsonValueKind.False, "DoRA is not supported");
            config.RefuseUnless("lora_bias", v => v.ValueKind == JsonValueKind.False, "a bias on lora_B is not supported");
            config.RefuseUnless("use_qalora", v => v.ValueKind == JsonValueKind.False, "QA-LoRA is not supported");
            config.RefuseUnless("use_alora", v => v.ValueKind == JsonValueKind.False, "aLoRA is not supported");
            foreach (var key in new[] { "rank_pattern", "alpha_pattern" })
                config.RefuseUnless(key, v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any(),
                    "per-layer ranks or alphas are not supported");
            foreach (var key in new[] { "modules_to_save", "exclude_modules", "target_parameters", "trainable_token_indices" })
                config.RefuseUnless(key, v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0 ||
                    v.ValueKind == JsonValueKind.String && v.GetString()!.Length == 0, "is not supported");
            foreach (var key in new[] { "layers_to_transform", "layer_replication" })
                config.RefuseUnless(key, _ => false, "selecting or replicating decoder layers is not supported");
            config.RefuseUnless("init_lora_weights",
                v => v.ValueKind is JsonValueKind.True or JsonValueKind.False || v.ValueKind == JsonValueKind.String && v.GetString() is "gaussian" or "eva",
                "names an initialisation that rewrites the base weights (PiSSA, OLoRA, CorDA, LoftQ...) or is unknown; " +
                "such an adapter only fits its residual base model (convert it in PEFT first)");

            int rank = config.Int("r") ?? 8;
            double alpha = config.Number("lora_alpha") ?? 8;
            double dropout = config.Number("lora_dropout") ?? 0;
            bool rsLora = config.Bool("use_rslora") ?? false;
            bool initLoraWeights = config.Bool("init_lora_weights") ?? true;

            IReadOnlyList<string>? targets = null;
            string? regex = null;
            var targetElement = config.Optional("target_modules");
            switch (targetElement?.ValueKind)
            {
                case null:
                    throw Error(path, null, "target_modules is missing; PEFT would fall back on a per-architecture default list, which InternVL has none of");
                case JsonValueKind.String:
                    regex = targetElement.Value.GetString()!;
                    if (regex == "all-linear")
                        throw Error(path, null, "target_modules \"all-linear\" is not supported: list the layers");
                    break;
                case JsonValueKind.Array:
                    targets = targetElement.Value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0
                        ? v.GetString()!
                        : throw Error(path, null, $"target_modules must hold non-empty strings, not {v.ValueKind}")).ToArray();
                    if (targets.Count == 0)
                        throw Error(path, null, "target_modules is empty");
                    break;
                default:
                    throw Error(path, null, $"target_modules must be a list of names or a regex string, not {targetElement.Value.ValueKind}");
            }

            var options = new LoraOptions
            {
                Rank = rank,
                Alpha = alpha,
                Dropout = dropout,
                UseRsLora = rsLora,
                TargetModules = targets,
                TargetModulesRegex = regex,
                InitLoraWeights = initLoraWeights,
                TaskType = config.String("task_type"),
                BaseModelNameOrPath = config.String("base_model_name_or_path"),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                throw Error(path, null, e.Message, e);
            }
            return options;
        }
    }

    /// <summary>
    /// Reads the adapter folder and attaches it to <paramref name="model"/>: every tensor must be the lora_A or lora_B
    /// of a Linear layer that the config's target_modules select, with r from the config and the layer's features,
    /// and every selected layer must have both.
    /// </summary>
    /// <exception cref="InvalidDataException">The message names the file and the key at fault.</exception>
    public static LoraAdapter Load(torch.nn.Module model, string folder, bool trainable = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Adapter folder '{folder}' does not exist.");
        var options = ReadConfig(folder);
        var configPath = Path.Combine(folder, ConfigFileName);
        var weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath))
        {
            if (File.Exists(Path.Combine(folder, PickleWeightsFileName)))
                throw Error(Path.Combine(folder, PickleWeightsFileName), null,
                    $"pickled adapter weights are never loaded (unpickling can run code); save the adapter with safetensors ({WeightsFileName})");
            throw new FileNotFoundException($"'{folder}' has no {WeightsFileName}.", weightsPath);
        }

        using var file = SafetensorsFile.Open(weightsPath);
        var modules = new Dictionary<string, torch.nn.Module>(StringComparer.Ordinal);
        foreach (var (name, module) in model.named_modules())
            modules.TryAdd(name, module);

        LoraAdapter adapter;
        try
        {
            adapter = LoraAdapter.AttachResolved(model, options);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw Error(configPath, null, $"target_modules {LoraTargets.Describe(options.TargetModules, options.TargetModulesRegex)} does not fit the model: {e.Message}", e);
        }
        try
        {
            var expected = adapter.PeftStateDict().ToDictionary(p => p.Key, p => p.Tensor, StringComparer.Ordinal);
            foreach (var key in file.Names)
            {
                var (path, matrix) = ParseKey(weightsPath, key);
                if (!modules.TryGetValue(path, out var module))
                    throw Error(weightsPath, key, $"names the layer '{path}', which the model does not have");
                if (module is not Linear linear)
                    throw Error(weightsPath, key, $"names '{path}', a {module.GetType().Name}, not a Linear layer");
                if (!expected.TryGetValue(key, out var destination))
                    throw Error(weightsPath, key,
                        $"names the Linear layer '{path}', which {ConfigFileName}'s target_modules " +
                        $"{LoraTargets.Describe(options.TargetModules, options.TargetModulesRegex)} does not select");
                var info = file.GetInfo(key);
                if (!torch.is_floating_point(info.ScalarType))
                    throw Error(weightsPath, key, $"has dtype {info.DType}; LoRA weights are floating point");
                var shape = info.ShapeArray();
                if (!shape.AsSpan().SequenceEqual(destination.shape))
                {
                    long inF = linear.weight!.shape[1], outF = linear.weight!.shape[0];
                    throw Error(weightsPath, key,
                        $"has shape {info.ShapeText}, but layer '{path}' ({inF} → {outF} features) with r = {options.Rank} from {ConfigFileName} " +
                        $"needs {SafetensorsTensorInfo.FormatShape(destination.shape)} ({matrix} is {(matrix == "lora_A" ? "[r, in]" : "[out, r]")})");
                }
            }
            foreach (var key in expected.Keys)
            {
                if (!file.Contains(key))
                    throw Error(weightsPath, key, $"is missing: every layer that target_modules selects needs lora_A.weight and lora_B.weight");
            }
            foreach (var (key, destination) in expected)
                file.CopyInto(key, destination);
            adapter.SetTrainable(trainable);
            return adapter;
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    private static readonly Regex NamedAdapterKey = new(@"\.lora_[AB]\.[^.]+\.weight\z", RegexOptions.CultureInvariant);

    /// <summary>(module path, "lora_A"/"lora_B") of a saved key, or an error saying what the key is instead.</summary>
    private static (string Path, string Matrix) ParseKey(string file, string key)
    {
        if (!key.StartsWith(KeyPrefix, StringComparison.Ordinal))
            throw Error(file, key, $"does not start with '{KeyPrefix}', the prefix PEFT gives every saved LoRA key");
        var rest = key[KeyPrefix.Length..];
        foreach (var matrix in new[] { "lora_A", "lora_B" })
        {
            var suffix = $".{matrix}.weight";
            if (rest.EndsWith(suffix, StringComparison.Ordinal) && rest.Length > suffix.Length)
                return (rest[..^suffix.Length], matrix);
        }
        if (NamedAdapterKey.IsMatch(rest))
            throw Error(file, key, "carries an adapter name; PEFT removes it when saving (get_peft_model_state_dict), so this is not a saved PEFT adapter");
        if (rest.Contains("lora_embedding_", StringComparison.Ordinal))
            throw Error(file, key, "is an embedding LoRA weight, which this package does not support");
        if (rest.Contains("lora_magnitude_vector", StringComparison.Ordinal))
            throw Error(file, key, "is a DoRA magnitude, which this package does not support");
        throw Error(file, key, "is not a LoRA weight (expected '<layer>.lora_A.weight' or '<layer>.lora_B.weight')");
    }

    private static InvalidDataException Error(string file, string? key, string problem, Exception? inner = null) =>
        CheckpointFormatErrors.Create(file, key, problem, inner);

    private static void WriteStringOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
            json.WriteNull(name);
        else
            json.WriteString(name, value);
    }

    /// <summary>A number as Python's json writes an int (16) or a float (0.0, 0.05).</summary>
    private static string PythonNumber(double value, bool integralAsInt)
    {
        if (value == Math.Floor(value) && Math.Abs(value) < 1e15)
            return integralAsInt
                ? ((long)value).ToString(CultureInfo.InvariantCulture)
                : ((long)value).ToString(CultureInfo.InvariantCulture) + ".0";
        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>Typed reads of adapter_config.json whose errors name the file and the field.</summary>
    private sealed class ConfigReader(JsonElement root, string path)
    {
        public JsonElement? Optional(string key) =>
            root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public string? String(string key) => Optional(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } v => v.GetString(),
            { } v => throw Error(path, null, $"{key} must be a string, not {v.ValueKind}"),
        };

        public bool? Bool(string key) => Optional(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            { ValueKind: JsonValueKind.String } => null, // init_lora_weights "gaussian"/"eva": an initialisation only
            { } v => throw Error(path, null, $"{key} must be true or false, not {v.ValueKind}"),
        };

        public int? Int(string key) => Optional(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out int i) => i,
            { } v => throw Error(path, null, $"{key} must be an integer, not {v}"),
        };

        public double? Number(string key) => Optional(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v => v.GetDouble(),
            { } v => throw Error(path, null, $"{key} must be a number, not {v.ValueKind}"),
        };

        /// <summary>A present, non-null <paramref name="key"/> must satisfy <paramref name="ok"/>.</summary>
        public void RefuseUnless(string key, Func<JsonElement, bool> ok, string why)
        {
            if (Optional(key) is { } v && !ok(v))
                throw Error(path, null, $"{key} = {v.GetRawText()}: {why}");
        }
    }
}
