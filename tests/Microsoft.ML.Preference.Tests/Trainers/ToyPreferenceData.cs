using Microsoft.ML.Preference.Modeling;
using SkiaSharp;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>One row of the toy colour task.</summary>
public sealed class ToyRow
{
    public string Image { get; set; } = "";
    public string Prompt { get; set; } = "";
    public string Chosen { get; set; } = "";
    public string Rejected { get; set; } = "";
}

/// <summary>
/// A toy preference task with a visual answer: a square of one colour (filling most of the tile, so that a tiny
/// random vision tower passes the colour on); the chosen response names the colour, the
/// rejected one names another. A tiny random model starts near 50% reward accuracy and can learn it from the image.
/// The folder holds the images and a tiny InternVL model made in code (with its own BPE tokenizer).
/// </summary>
internal sealed class ToyPreferenceData : IDisposable
{
    public static readonly (string Name, SKColor Color)[] Colours =
        [("red", SKColors.Red), ("blue", SKColors.Blue), ("green", SKColors.Lime), ("yellow", SKColors.Yellow)];

    public string Root { get; }
    public string ModelPath => Path.Combine(Root, "model");

    public ToyPreferenceData(TinyInternVLOptions? model = null)
    {
        Root = Path.Combine(Path.GetTempPath(), "mlpref-toy-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(Root, "images"));
        for (int c = 0; c < Colours.Length; c++)
            for (int v = 0; v < 3; v++)
                WriteImage(Path.Combine(Root, "images", $"{Colours[c].Name}-{v}.png"), Colours[c].Color, v);
        var corpus = Rows(40, seed: 99).SelectMany(r => new[] { r.Prompt, r.Chosen, r.Rejected });
        TinyInternVLFactory.Create(ModelPath, corpus, model ?? new TinyInternVLOptions());
    }

    private static void WriteImage(string path, SKColor colour, int variant)
    {
        using var bitmap = new SKBitmap(56, 56);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var paint = new SKPaint { Color = colour };
            canvas.DrawRect(variant * 2, variant * 2, 56 - variant * 4, 56 - variant * 4, paint);
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    private const string AnswerPrefix = "The square is ";

    /// <summary>The colour a response of the task names ("The square is red." gives "red"): the question's ground truth.</summary>
    public static string ColourOf(string response) => response[AnswerPrefix.Length..].TrimEnd('.');

    /// <summary><paramref name="count"/> rows drawn with <paramref name="seed"/>.</summary>
    public List<ToyRow> Rows(int count, int seed)
    {
        var random = new Random(seed);
        var rows = new List<ToyRow>();
        for (int i = 0; i < count; i++)
        {
            int c = random.Next(Colours.Length);
            int wrong = (c + 1 + random.Next(Colours.Length - 1)) % Colours.Length;
            rows.Add(new ToyRow
            {
                Image = Path.Combine(Root, "images", $"{Colours[c].Name}-{random.Next(3)}.png"),
                Prompt = "What colour is the square?",
                Chosen = $"{AnswerPrefix}{Colours[c].Name}.",
                Rejected = $"{AnswerPrefix}{Colours[wrong].Name}.",
            });
        }
        return rows;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
