using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Data;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Trainers.Training;
using Microsoft.ML.Preference.Transformers;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Transformers;

/// <summary>
/// A trained vision-language model as an ML.NET transformer: Transform adds <c>Response</c> (the generated text,
/// chain of thought by default) and <c>Answer</c> (its final answer) to rows with an image and a prompt.
/// Save(dir)/Load(dir) write and read a Hugging Face folder; ML.NET's model zip cannot hold it.
/// </summary>
public sealed class MpoTransformer : ITransformer, IDisposable
{
    private const string SettingsFile = "mpo_transformer.json";
    private readonly IHost _host;
    private LoraAdapter? _adapter;

    internal MpoTransformer(MLContext context, VisionLanguageModel model, LoraAdapter? adapter, AnswerMode mode, InstructionTemplate instructions,
        GenerationOptions generation, string? imageColumn, string promptColumn, IReadOnlyList<TrainingMetrics> history, IReadOnlyDictionary<string, int> skippedRows)
    {
        _host = ((IHostEnvironment)context).Register(nameof(MpoTransformer));
        Model = model;
        _adapter = adapter;
        AnswerMode = mode;
        Instructions = instructions;
        Generation = generation;
        ImageColumnName = imageColumn;
        PromptColumnName = promptColumn;
        TrainingHistory = history;
        SkippedRows = skippedRows;
    }

    /// <summary>The model, tokenizer, templates and image processor.</summary>
    public VisionLanguageModel Model { get; }

    /// <summary>Chain of thought (default) or direct answers.</summary>
    public AnswerMode AnswerMode { get; set; }

    /// <summary>
    /// The template the questions are put into for <see cref="AnswerMode"/>: the one the training prompts carried (see
    /// <see cref="Trainers.MpoTrainer.Options.Instructions"/>), saved and loaded with the model. A question that already carries a
    /// template is not wrapped again.
    /// </summary>
    public InstructionTemplate Instructions { get; set; }

    /// <summary>Decoding options.</summary>
    public GenerationOptions Generation { get; set; }

    /// <summary>The image column Transform reads (null: text-only prompts).</summary>
    public string? ImageColumnName { get; set; }

    /// <summary>The question column Transform reads.</summary>
    public string PromptColumnName { get; set; }

    /// <summary>Rows generated per batch in Transform. Default 8.</summary>
    public int BatchSize { get; set; } = 8;

    /// <summary>
    /// How many generated rows each view returned by <see cref="Transform"/> keeps, so that a second cursor over those
    /// rows does not generate them again. Default 1024 (two strings a row); raise it to cover a whole evaluation set
    /// that is read more than once.
    /// </summary>
    public int CachedRows { get; set; } = 1024;

    /// <summary>Stops the generation of views returned by <see cref="Transform"/> (between and within batches) and of Predict.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Every training step's metrics (empty for a loaded transformer).</summary>
    public IReadOnlyList<TrainingMetrics> TrainingHistory { get; }

    /// <summary>Rows the trainer skipped, by reason (with <see cref="BadRowPolicy.Skip"/>).</summary>
    public IReadOnlyDictionary<string, int> SkippedRows { get; }

    /// <summary>The LoRA adapter when it was kept separate (not merged), else null.</summary>
    internal LoraAdapter? Adapter => _adapter;

    /// <inheritdoc/>
    public bool IsRowToRowMapper => false;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return LazyResponsesDataView.OutputSchema(inputSchema);
    }

    /// <summary>Generation is batched over rows, so there is no row-to-row mapper: use Transform or Predict.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        throw new NotSupportedException("MpoTransformer generates in batches and has no row-to-row mapper; use Transform, Predict or CreatePredictionEngine.");

    /// <summary>
    /// Returns at once a view of <paramref name="input"/> with Response and Answer appended. Nothing is generated until
    /// a cursor reads those columns; then the rows are generated a batch (<see cref="BatchSize"/>) at a time, each batch
    /// logged to MLContext.Log, and kept (up to <see cref="CachedRows"/>) for the view's other cursors. The answer mode,
    /// generation options, sizes and <see cref="CancellationToken"/> are those of the moment Transform is called.
    /// </summary>
    public IDataView Transform(IDataView input)
    {
        CheckInput(input.Schema);
        var columns = new PreferenceColumns(ImageColumnName, PromptColumnName, PromptColumnName, PromptColumnName);
        var mode = AnswerMode;
        var generation = Generation;
        int batchSize = BatchSize;
        var instructions = Instructions;
        var cancellation = CancellationToken;
        return new LazyResponsesDataView(input, columns,
            rows => Answer(rows.Select(r => (r.Images, r.Prompt)).ToList(), mode, instructions, generation, batchSize, cancellation)
                .Select(r => (r.Response, r.Answer ?? "")).ToList(),
            batchSize, CachedRows, _host, cancellation);
    }

    /// <summary>One question about an image file (or none): the response and its final answer.</summary>
    public MpoPrediction Predict(string? imagePath, string question)
    {
        IReadOnlyList<ImageSource> images = imagePath is null ? [] : [new ImageSource.FromFile(imagePath)];
        return Answer([(images, question)], AnswerMode, Instructions, Generation, 1, CancellationToken)[0];
    }

    /// <summary>The one place where questions become prompts and responses (Transform and Predict both come here).</summary>
    private List<MpoPrediction> Answer(IReadOnlyList<(IReadOnlyList<ImageSource> Images, string Question)> questions,
        AnswerMode mode, InstructionTemplate instructions, GenerationOptions generation, int batchSize, CancellationToken cancellation) =>
        Model.Answer(questions, mode, generation, batchSize, instructions: instructions, cancellationToken: cancellation).Select(result =>
        {
            var extracted = AnswerExtractor.Extract(result.Text, mode);
            return new MpoPrediction(result.Text, extracted.Answer, extracted.FormatFailure);
        }).ToList();

    /// <summary>A PredictionEngine-style object for single rows.</summary>
    public MpoPredictionEngine CreatePredictionEngine() => new(this);

    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException(
        "MpoTransformer holds a TorchSharp model that ML.NET's model file cannot store. Call transformer.Save(directory) " +
        "and MpoTransformer.Load(mlContext, directory) instead.");

    /// <summary>
    /// Writes a Hugging Face folder: the (merged) weights, config and tokenizer files, plus mpo_transformer.json with
    /// the answer mode, instruction template and generation options. With an unmerged adapter, only the adapter (PEFT format, in adapter/)
    /// is written, with a reference to the base folder.
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var settings = new JsonObject
        {
            ["answer_mode"] = AnswerMode.ToString(),
            ["instructions"] = Instructions.ToJson(),
            ["image_column"] = ImageColumnName,
            ["prompt_column"] = PromptColumnName,
            ["system_message"] = Model.Prompts.SystemMessage,
            ["generation"] = JsonSerializer.SerializeToNode(Generation),
        };
        if (_adapter is not null)
        {
            _adapter.Save(Path.Combine(directory, "adapter"));
            settings["base_model"] = Path.GetFullPath(Model.Folder);
            settings["adapter"] = "adapter";
        }
        else
        {
            InternVLModelFolder.Save(Model.Model, directory, tokenizerSource: Model.Folder);
        }
        File.WriteAllText(Path.Combine(directory, SettingsFile), settings.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads a folder written by <see cref="Save"/> (or any InternVL model folder, with default settings).</summary>
    public static MpoTransformer Load(MLContext context, string directory, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var settingsPath = Path.Combine(directory, SettingsFile);
        var settings = File.Exists(settingsPath) ? JsonNode.Parse(File.ReadAllText(settingsPath))!.AsObject() : new JsonObject();
        string modelFolder = settings["base_model"]?.GetValue<string>() ?? directory;
        var vlm = VisionLanguageModel.Load(modelFolder, dtype, device, systemMessage: settings["system_message"]?.GetValue<string>());
        LoraAdapter? adapter = null;
        if (settings["adapter"]?.GetValue<string>() is { } adapterFolder)
            adapter = LoraAdapter.Load(vlm.Model, Path.Combine(directory, adapterFolder));
        var mode = Enum.TryParse<AnswerMode>(settings["answer_mode"]?.GetValue<string>(), out var m) ? m : AnswerMode.ChainOfThought;
        var generation = settings["generation"]?.Deserialize<GenerationOptions>() ?? new GenerationOptions();
        var instructions = InstructionsIn(settings, File.Exists(settingsPath));
        return new MpoTransformer(context, vlm, adapter, mode, instructions, generation,
            settings.ContainsKey("image_column") ? settings["image_column"]?.GetValue<string>() : PreferenceColumnNames.Image,
            settings["prompt_column"]?.GetValue<string>() ?? PreferenceColumnNames.Prompt, [], new Dictionary<string, int>());
    }

    /// <summary>The instruction template a folder written by <see cref="Save"/> asks with (the default for any other folder).</summary>
    internal static InstructionTemplate SavedInstructions(string directory)
    {
        var settingsPath = Path.Combine(directory, SettingsFile);
        return File.Exists(settingsPath) ? InstructionsIn(JsonNode.Parse(File.ReadAllText(settingsPath))!.AsObject(), true) : InstructionTemplate.Default;
    }

    /// <summary>
    /// The template in saved <paramref name="settings"/>. A folder saved before templates were recorded asked with this
    /// package's own (<see cref="InstructionTemplate.MlNet"/>); a bare model folder gets the default.
    /// </summary>
    private static InstructionTemplate InstructionsIn(JsonObject settings, bool saved) =>
        InstructionTemplate.FromJson(settings["instructions"]) ?? (saved ? InstructionTemplate.MlNet : InstructionTemplate.Default);

    private void CheckInput(DataViewSchema schema)
    {
        var prompt = schema.GetColumnOrNull(PromptColumnName);
        if (prompt is null || prompt.Value.Type is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema), $"MpoTransformer needs a text column '{PromptColumnName}' (the question).");
        if (ImageColumnName is not null && schema.GetColumnOrNull(ImageColumnName) is null)
            throw new ArgumentOutOfRangeException(nameof(schema), $"MpoTransformer needs the image column '{ImageColumnName}' (or set ImageColumnName to null).");
    }

    /// <summary>Frees the model (and adapter).</summary>
    public void Dispose()
    {
        _adapter?.Dispose();
        _adapter = null;
        Model.Dispose();
    }
}

/// <summary>A single prediction: the response, the extracted answer, or why none could be extracted.</summary>
public sealed record MpoPrediction(string Response, string? Answer, string? FormatFailure);

/// <summary>Single-row predictions in the manner of ML.NET's PredictionEngine.</summary>
public sealed class MpoPredictionEngine
{
    private readonly MpoTransformer _transformer;

    internal MpoPredictionEngine(MpoTransformer transformer) => _transformer = transformer;

    /// <summary>Answers <paramref name="question"/> about the image at <paramref name="imagePath"/> (or none).</summary>
    public MpoPrediction Predict(string? imagePath, string question) => _transformer.Predict(imagePath, question);
}
