using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Text;
using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Images;

namespace Microsoft.ML.Preference.Modeling;

/// <summary>
/// A model folder ready to use: the <see cref="InternVLChatModel"/>, its tokenizer, the prompt builder of its
/// chat template and its image processor. What the trainer, the transformer and the CLI share.
/// </summary>
public sealed class VisionLanguageModel : IDisposable
{
    private VisionLanguageModel(string folder, InternVLChatModel model, ModelTokenizer tokenizer, PromptBuilder prompts, InternVLImageProcessor images)
    {
        Folder = folder;
        Model = model;
        Tokenizer = tokenizer;
        Prompts = prompts;
        Images = images;
    }

    /// <summary>The folder it was loaded from.</summary>
    public string Folder { get; }

    /// <summary>The network.</summary>
    public InternVLChatModel Model { get; }

    /// <summary>The folder's tokenizer.</summary>
    public ModelTokenizer Tokenizer { get; }

    /// <summary>Prompts and labels in the config's chat template.</summary>
    internal PromptBuilder Prompts { get; }

    /// <summary>Images to tiles with the config's tiling settings.</summary>
    internal InternVLImageProcessor Images { get; }

    /// <summary>The device the model is on.</summary>
    public Device Device => Model.parameters().First().device;

    /// <summary>Loads <paramref name="folder"/> (weights, tokenizer, template from config.json).</summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="dtype">Parameter dtype.</param>
    /// <param name="device">Where the model goes (CPU when null).</param>
    /// <param name="maxLength">Longest prompt + response in tokens (null: no limit).</param>
    /// <param name="systemMessage">The system message of every prompt; null keeps the template's default.</param>
    public static VisionLanguageModel Load(string folder, ScalarType dtype = ScalarType.Float32, Device? device = null, int? maxLength = null,
        string? systemMessage = null)
    {
        var model = InternVLModelFolder.Load(folder, dtype, device);
        try
        {
            var tokenizer = ModelTokenizer.FromFolder(folder);
            var defaults = PromptBuilder.ForModel(model.Config, tokenizer);
            var prompts = new PromptBuilder(defaults.Template, defaults.Encoder, defaults.NumImageToken)
            {
                MaxLength = maxLength,
                SystemMessage = systemMessage,
            };
            return new VisionLanguageModel(folder, model, tokenizer, prompts, new InternVLImageProcessor(model.Config));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A generator that stops on the tokenizer's end-of-sequence and the template's end of turn.</summary>
    public VisionLanguageGenerator CreateGenerator()
    {
        var stops = new HashSet<int>();
        if (Tokenizer.EosId is int eos)
            stops.Add(eos);
        foreach (var s in Prompts.Template.StopStrings)
            if (Tokenizer.TokenToId(s) is int id)
                stops.Add(id);
        return new VisionLanguageGenerator(Model, Tokenizer, stops, Prompts.Encoder.PadId);
    }

    /// <summary>
    /// The decoded images of a row, each converted as InternVL's loader does; a missing or corrupt file, or one above
    /// the pixel limit, raises <see cref="BadRowException"/> naming the row. With <paramref name="processor"/> files are
    /// decoded within its bounds (<see cref="InternVLImageProcessor.Load"/>: the size read first, very large images
    /// decoded at a reduced scale); without it, whole.
    /// </summary>
    internal static IReadOnlyList<RgbImage> DecodeImages(IReadOnlyList<ImageSource> images, long rowIndex, InternVLImageProcessor? processor = null)
    {
        var decoded = new RgbImage[images.Count];
        for (int i = 0; i < decoded.Length; i++)
        {
            try
            {
                decoded[i] = images[i] switch
                {
                    ImageSource.FromFile f => processor is null
                        ? ImageDecoder.Load(f.Path, (int)Math.Min(rowIndex, int.MaxValue))
                        : processor.Load(f.Path, (int)Math.Min(rowIndex, int.MaxValue), images.Count),
                    ImageSource.InMemory m => RgbImage.FromMLImage(m.Image),
                    _ => throw new NotSupportedException($"Unknown image source {images[i]}."),
                };
            }
            catch (ImageLoadException e)
            {
                var reason = e.Pixels is not null ? BadRowReason.ImageTooLarge
                    : images[i] is ImageSource.FromFile file && !File.Exists(file.Path) ? BadRowReason.MissingImage : BadRowReason.CorruptImage;
                throw new BadRowException(rowIndex, reason, $"image '{e.Path}': {e.Reason}", e);
            }
        }
        return decoded;
    }

    /// <summary>
    /// Answers questions about images: each request is (images, question), the question is put into the
    /// <paramref name="mode"/> template of <paramref name="instructions"/> (default <see cref="InstructionTemplate.Default"/>;
    /// a question that already carries a template is not wrapped again), and the responses are decoded in batches of
    /// <paramref name="batchSize"/>.
    /// </summary>
    public IReadOnlyList<GenerationResult> Answer(
        IReadOnlyList<(IReadOnlyList<ImageSource> Images, string Question)> requests, AnswerMode mode, GenerationOptions options,
        int batchSize = 8, Action<GeneratedToken>? onToken = null, CancellationToken cancellationToken = default,
        InstructionTemplate? instructions = null)
    {
        instructions ??= InstructionTemplate.Default;
        var generator = CreateGenerator();
        var results = new List<GenerationResult>(requests.Count);
        for (int start = 0; start < requests.Count; start += batchSize)
        {
            var chunk = requests.Skip(start).Take(batchSize).ToList();
            var batch = new List<GenerationRequest>();
            try
            {
                for (int i = 0; i < chunk.Count; i++)
                {
                    batch.Add(Request(chunk[i].Images, instructions.Apply(chunk[i].Question, mode), start + i));
                    AnswerRequestObserver?.Invoke(batch[^1]);
                }
                int offset = start;
                results.AddRange(generator.Generate(batch, options,
                    onToken is null ? null : t => onToken(t with { Row = t.Row + offset }), cancellationToken));
            }
            finally
            {
                foreach (var r in batch)
                    r.Tiles?.Dispose();
            }
        }
        return results;
    }

    /// <summary>Sees every request <see cref="Answer"/> builds, before it is generated (tests compare its prompt ids with training's).</summary>
    internal Action<GenerationRequest>? AnswerRequestObserver { get; set; }

    /// <summary>An inference request: the images tiled, the question templated with the generation prompt.</summary>
    public GenerationRequest Request(IReadOnlyList<ImageSource> images, string question, long rowIndex)
    {
        if (images.Count == 0)
            return new GenerationRequest(Prompts.BuildPrompt(question, null, rowIndex).InputIds);
        var tiles = Images.ProcessRow(DecodeImages(images, rowIndex, Images));
        var prompt = Prompts.BuildPrompt(question, tiles.TilesPerImage, rowIndex);
        return new GenerationRequest(prompt.InputIds, tiles.PixelValues);
    }

    /// <inheritdoc/>
    public void Dispose() => Model.Dispose();
}
