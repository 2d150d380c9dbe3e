using System.Globalization;
using SkiaSharp;

namespace Microsoft.ML.Preference.Data.Synthetic;

/// <summary>One drawn problem: its parameters determine the image, the question, the answer and the rationales.</summary>
internal abstract class SyntheticTask
{
    protected SyntheticTask(SyntheticStyle style) => Style = style;

    /// <summary>The shift and ink the item is drawn with.</summary>
    public SyntheticStyle Style { get; }

    public abstract SyntheticTaskFamily Family { get; }

    /// <summary>Canonical text of every parameter (the split and the image file name are functions of it).</summary>
    public string Key => ContentKey + "|" + Style.Key;

    /// <summary>Canonical text of what the item asks (everything but the style).</summary>
    protected abstract string ContentKey { get; }

    public abstract string Question { get; }

    public abstract string Answer { get; }

    public abstract string Rationale { get; }

    /// <summary>Plausible wrong rationales, each ending in "Final answer: Y" with Y different from the answer.</summary>
    public abstract IEnumerable<string> WrongRationaleCandidates();

    public void Draw(SKCanvas canvas)
    {
        using var shift = Style.Apply(canvas);
        DrawContent(canvas);
    }

    protected abstract void DrawContent(SKCanvas canvas);

    protected static string N(int value) => value.ToString(CultureInfo.InvariantCulture);

    protected static string Lines(params string[] lines) => string.Join("\n", lines);

    protected static string Final(string answer) => "Final answer: " + answer;
}

/// <summary>Counting: one to four shapes on a 2×2 grid; how many are of the asked colour (0 to 4).</summary>
internal sealed class CountingTask : SyntheticTask
{
    // Per slot (reading order): -1 empty, else shape * 4 + colour.
    private readonly int[] _slots;
    private readonly int _target;

    public CountingTask(int[] slots, int target, SyntheticStyle style) : base(style)
    {
        _slots = slots;
        _target = target;
    }

    public static CountingTask Draw(Random random)
    {
        int total = random.Next(1, 5);
        var slots = new[] { -1, -1, -1, -1 };
        var order = new[] { 0, 1, 2, 3 };
        random.Shuffle(order);
        for (int i = 0; i < total; i++)
            slots[order[i]] = random.Next(SyntheticDrawing.Shapes.Length) * 4 + random.Next(SyntheticDrawing.Colours.Length);
        // Any colour may be asked, also one that is not there (answer 0): when the asked colour was always present,
        // a small model learnt to name a colour it saw instead of the one asked for.
        int target = random.Next(SyntheticDrawing.Colours.Length);
        // The shapes carry their own colours: only the shift varies.
        return new CountingTask(slots, target, SyntheticStyle.Draw(random) with { Ink = 0 });
    }

    public override SyntheticTaskFamily Family => SyntheticTaskFamily.Counting;

    protected override string ContentKey =>
        $"counting|target={ColourName(_target)}|" + string.Join(",", _slots.Select(s => s < 0 ? "-" : $"{ColourName(s % 4)}-{SyntheticDrawing.Shapes[s / 4]}"));

    private static string ColourName(int colour) => SyntheticDrawing.Colours[colour].Name;

    private int Count(IEnumerable<int> slots) => slots.Count(s => s >= 0 && s % 4 == _target);

    public override string Question => $"How many {ColourName(_target)} shapes are in the image?";

    public override string Answer => N(Count(_slots));

    public override string Rationale => Reason(_slots, null);

    // Every step is one a small model can take: name the asked colour first (copied from the question while no other
    // colour word stands in between), list what is seen in reading order, pick that colour out of the list numbering
    // as it goes, and answer the last number. Counting in one go is left to the Direct mode.
    private string Reason(int[] slots, int? answer)
    {
        var present = slots.Where(s => s >= 0).ToList();
        var seen = present.Select(s => $"a {ColourName(s % 4)} {SyntheticDrawing.Shapes[s / 4]}").ToList();
        string list = seen.Count == 1 ? seen[0] : string.Join(", ", seen.Take(seen.Count - 1)) + " and " + seen[^1];
        var matches = present.Where(s => s % 4 == _target).Select((s, i) => $"the {SyntheticDrawing.Shapes[s / 4]} ({N(i + 1)})").ToList();
        string picked = matches.Count == 0 ? "none" : string.Join(", ", matches);
        string colour = ColourName(_target);
        return Lines($"Counting the {colour} shapes.", $"I see {list}.", $"The {colour} ones: {picked}.", Final(N(answer ?? matches.Count)));
    }

    public override IEnumerable<string> WrongRationaleCandidates()
    {
        int truth = Count(_slots);
        // Miscounts of a correct listing.
        yield return Reason(_slots, truth + 1);
        if (truth > 0)
            yield return Reason(_slots, truth - 1);
        // A misread colour: the first shape of the asked colour seen as another, or another seen as the asked one.
        int first = Array.FindIndex(_slots, s => s >= 0 && s % 4 == _target);
        var misread = (int[])_slots.Clone();
        if (first >= 0)
        {
            misread[first] = misread[first] / 4 * 4 + (_target + 1) % 4;
            yield return Reason(misread, null);
        }
        int other = Array.FindIndex(_slots, s => s >= 0 && s % 4 != _target);
        if (other >= 0)
        {
            misread = (int[])_slots.Clone();
            misread[other] = misread[other] / 4 * 4 + _target;
            yield return Reason(misread, null);
        }
    }

    protected override void DrawContent(SKCanvas canvas)
    {
        for (int i = 0; i < 4; i++)
        {
            if (_slots[i] < 0)
                continue;
            float x = i % 2 * 28 + 3, y = i / 2 * 28 + 3;
            SyntheticDrawing.Shape(canvas, _slots[i] / 4, x, y, 22, SyntheticDrawing.Colours[_slots[i] % 4].Color);
        }
    }
}

/// <summary>Bar comparison: two bars of heights 1–9 (different); which is taller (A left, B right).</summary>
/// <remarks>
/// Only "taller" is asked. A "shorter" variant made the last step an exclusive-or of the comparison and one word of
/// the question, which the quickstart's tiny model never learnt in either mode (both stayed at chance); reading two
/// heights and comparing them in writing is the step that separates CoT from a direct answer here.
/// </remarks>
internal sealed class BarTask(int left, int right, SyntheticStyle style) : SyntheticTask(style)
{
    public static BarTask Draw(Random random)
    {
        int left = random.Next(1, 10);
        int right = random.Next(1, 9);
        if (right >= left)
            right++;
        return new BarTask(left, right, SyntheticStyle.Draw(random));
    }

    public override SyntheticTaskFamily Family => SyntheticTaskFamily.BarComparison;

    protected override string ContentKey => $"bars|left={N(left)}|right={N(right)}";

    public override string Question => "Which bar is taller?\nA. the left bar\nB. the right bar";

    public override string Answer => left > right ? "A" : "B";

    public override string Rationale => Reason(left, right, left > right);

    // The heights in the order they are drawn, then one comparison of the two numbers just written.
    private static string Reason(int l, int r, bool leftWins) =>
        Lines($"The left bar is {Units(l)} high and the right bar is {Units(r)} high.",
            $"{N(l)} {(l > r ? ">" : l < r ? "<" : "=")} {N(r)}, so the {(leftWins ? "left" : "right")} bar is taller.", Final(leftWins ? "A" : "B"));

    private static string Units(int height) => height == 1 ? "1 unit" : $"{N(height)} units";

    public override IEnumerable<string> WrongRationaleCandidates()
    {
        // The heights read the wrong way round, then a right conclusion from them.
        yield return Reason(right, left, right > left);
        // Right heights, but the conclusion turned around.
        yield return Reason(left, right, left < right);
    }

    protected override void DrawContent(SKCanvas canvas)
    {
        const float baseline = 52, unit = 5;
        using var axis = SyntheticDrawing.Fill(SKColors.Black);
        canvas.DrawRect(SKRect.Create(2, baseline, 52, 2), axis);
        // A scale on the left: one tick per unit.
        canvas.DrawRect(SKRect.Create(2, baseline - 9 * unit, 1, 9 * unit), axis);
        for (int tick = 1; tick <= 9; tick++)
            canvas.DrawRect(SKRect.Create(2, baseline - tick * unit, 4, 1), axis);
        using var paint = SyntheticDrawing.Fill(Style.Colour);
        canvas.DrawRect(SKRect.Create(8, baseline - left * unit, 16, left * unit), paint);
        canvas.DrawRect(SKRect.Create(32, baseline - right * unit, 16, right * unit), paint);
    }
}

/// <summary>Arithmetic: two digits 1–9 side by side; their sum, or the left minus the right (left ≥ right).</summary>
internal sealed class ArithmeticTask(int left, int right, bool sum, SyntheticStyle style) : SyntheticTask(style)
{
    public static ArithmeticTask Draw(Random random)
    {
        int a = random.Next(1, 10), b = random.Next(1, 10);
        bool sum = random.Next(2) == 0;
        if (!sum && a < b)
            (a, b) = (b, a);
        return new ArithmeticTask(a, b, sum, SyntheticStyle.Draw(random));
    }

    public override SyntheticTaskFamily Family => SyntheticTaskFamily.Arithmetic;

    protected override string ContentKey => $"arithmetic|left={N(left)}|right={N(right)}|op={(sum ? "sum" : "difference")}";

    public override string Question => sum
        ? "What is the sum of the two numbers in the image?"
        : "What is the left number minus the right number?";

    private int Truth => sum ? left + right : left - right;

    public override string Answer => N(Truth);

    public override string Rationale => Reason(left, right, sum, null);

    private static string Reason(int a, int b, bool add, int? result)
    {
        int value = result ?? (add ? a + b : a - b);
        return Lines($"The left number is {N(a)} and the right number is {N(b)}.",
            $"{N(a)} {(add ? "+" : "-")} {N(b)} = {N(value)}.", Final(N(value)));
    }

    public override IEnumerable<string> WrongRationaleCandidates()
    {
        // The wrong operation.
        if (sum)
        {
            if (left >= right)
                yield return Reason(left, right, false, null);
        }
        else
        {
            yield return Reason(left, right, true, null);
        }
        // A slip in the arithmetic.
        yield return Reason(left, right, sum, Truth + 1);
        if (Truth > 0)
            yield return Reason(left, right, sum, Truth - 1);
        // A misread digit.
        if (right < 9 && (sum || left > right))
            yield return Reason(left, right + 1, sum, sum ? left + right + 1 : left - right - 1);
    }

    protected override void DrawContent(SKCanvas canvas)
    {
        // Two digits with a wide gap, so that they read as two numbers.
        SyntheticDrawing.Digit(canvas, left, 4, 10, 18, 36, 5, Style.Colour);
        SyntheticDrawing.Digit(canvas, right, 34, 10, 18, 36, 5, Style.Colour);
    }
}

/// <summary>Rectangle: side lengths 1–9 drawn as digits (width on top, height on the left); perimeter or area.</summary>
internal sealed class RectangleTask(int width, int height, bool perimeter, SyntheticStyle style) : SyntheticTask(style)
{
    public static RectangleTask Draw(Random random) =>
        new(random.Next(1, 10), random.Next(1, 10), random.Next(2) == 0, SyntheticStyle.Draw(random));

    public override SyntheticTaskFamily Family => SyntheticTaskFamily.Rectangle;

    protected override string ContentKey => $"rectangle|width={N(width)}|height={N(height)}|ask={(perimeter ? "perimeter" : "area")}";

    public override string Question =>
        $"The number on top is the width of the rectangle and the number on the left is its height. What is its {(perimeter ? "perimeter" : "area")}?";

    private int Truth => perimeter ? 2 * (width + height) : width * height;

    public override string Answer => N(Truth);

    public override string Rationale => Reason(width, height, perimeter ? Formula.Perimeter : Formula.Area, null);

    private enum Formula { Perimeter, Area, HalfPerimeter }

    private static string Reason(int w, int h, Formula formula, int? result)
    {
        var (name, text, value) = formula switch
        {
            Formula.Perimeter => ("Perimeter", $"2 * ({N(w)} + {N(h)}) = 2 * {N(w + h)}", 2 * (w + h)),
            Formula.Area => ("Area", $"{N(w)} * {N(h)}", w * h),
            _ => ("Perimeter", $"{N(w)} + {N(h)}", w + h),
        };
        value = result ?? value;
        return Lines($"The width is {N(w)} and the height is {N(h)}.", $"{name} = {text} = {N(value)}.", Final(N(value)));
    }

    public override IEnumerable<string> WrongRationaleCandidates()
    {
        var formula = perimeter ? Formula.Perimeter : Formula.Area;
        // The other formula (for a perimeter: also the sides added once only).
        yield return Reason(width, height, perimeter ? Formula.Area : Formula.Perimeter, null);
        if (perimeter)
            yield return Reason(width, height, Formula.HalfPerimeter, null);
        // A slip in the arithmetic.
        yield return Reason(width, height, formula, Truth + 1);
        yield return Reason(width, height, formula, Truth - 1);
        // A misread side.
        if (width < 9)
            yield return Reason(width + 1, height, formula, null);
    }

    protected override void DrawContent(SKCanvas canvas)
    {
        using var paint = SyntheticDrawing.Fill(new SKColor(20, 60, 230));
        // The outline of the rectangle, 4 px thick.
        canvas.DrawRect(SKRect.Create(20, 22, 33, 31), paint);
        using var white = SyntheticDrawing.Fill(SKColors.White);
        canvas.DrawRect(SKRect.Create(24, 26, 25, 23), white);
        SyntheticDrawing.Digit(canvas, width, 29, 2, 14, 18, 4, Style.Colour);
        SyntheticDrawing.Digit(canvas, height, 2, 28, 14, 18, 4, Style.Colour);
    }
}
