using System.Globalization;
using SkiaSharp;

namespace Microsoft.ML.Preference.Data.Synthetic;

/// <summary>
/// How an item is drawn, apart from what it asks: a shift of the whole picture and the ink of digits, bars and
/// outlines. It is part of the content key, so a test image is never a training image; but the facts a rationale
/// uses (that 7 + 5 = 12, that 6 units are more than 4) recur across splits, as they do in real benchmarks. Without
/// it the arithmetic families had so few contents (126 and 162) that every test question asked a sum or product
/// the model had never seen written down, and neither answer mode could be learnt.
/// </summary>
internal readonly record struct SyntheticStyle(int Dx, int Dy, int Ink)
{
    /// <summary>Largest shift, in logical pixels, either way.</summary>
    public const int MaxShift = 2;

    public static readonly SKColor[] Inks =
    [
        SKColors.Black, new SKColor(30, 30, 140), new SKColor(120, 20, 20), new SKColor(20, 90, 30),
    ];

    public static SyntheticStyle Draw(Random random) =>
        new(random.Next(-MaxShift, MaxShift + 1), random.Next(-MaxShift, MaxShift + 1), random.Next(Inks.Length));

    public SKColor Colour => Inks[Ink];

    public string Key => string.Create(CultureInfo.InvariantCulture, $"style={Dx},{Dy},{Ink}");

    /// <summary>Moves the canvas by the shift; dispose to restore it.</summary>
    public SKAutoCanvasRestore Apply(SKCanvas canvas)
    {
        var restore = new SKAutoCanvasRestore(canvas, true);
        canvas.Translate(Dx, Dy);
        return restore;
    }
}
