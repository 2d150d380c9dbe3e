using System.Text;
using Microsoft.ML.Preference.Generation;

namespace Microsoft.ML.Preference.Data.Synthetic;

/// <summary>
/// Generates the synthetic visual-reasoning data set: small PNG images (big shapes, bars and seven-segment digits on
/// white) with a question, a short answer (a number or an option letter) and a short rationale ending in
/// "Final answer: X". Deterministic by seed. The split of an item is a function of its content alone (a hash of
/// <see cref="SyntheticReasoningItem.ContentKey"/>: one key in five belongs to the test split), so no test item
/// occurs in any training split, whatever the seeds and counts.
/// </summary>
public static class SyntheticReasoningGenerator
{
    /// <summary>Every family, in the order of <see cref="SyntheticTaskFamily"/>.</summary>
    public static IReadOnlyList<SyntheticTaskFamily> AllFamilies { get; } = Enum.GetValues<SyntheticTaskFamily>();

    private const int TestBuckets = 5;
    private const int FreshAttempts = 64;
    private const int MaxDraws = 100_000;

    /// <summary>The name of <paramref name="family"/>, as written in the Family column.</summary>
    public static string FamilyName(SyntheticTaskFamily family) => family switch
    {
        SyntheticTaskFamily.Counting => "counting",
        SyntheticTaskFamily.BarComparison => "bar-comparison",
        SyntheticTaskFamily.Arithmetic => "arithmetic",
        SyntheticTaskFamily.Rectangle => "rectangle",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "Unknown synthetic task family."),
    };

    /// <summary>The split every item with content key <paramref name="contentKey"/> belongs to.</summary>
    public static SyntheticSplit SplitOf(string contentKey)
    {
        ArgumentNullException.ThrowIfNull(contentKey);
        return Fnv1a(contentKey) % TestBuckets == 0 ? SyntheticSplit.Test : SyntheticSplit.Train;
    }

    /// <summary>
    /// Draws both splits and writes their images to <c>images/</c> under <see cref="SyntheticReasoningOptions.OutputFolder"/>
    /// (one file per distinct item, named by family and content hash). Within a split each family comes in turn,
    /// repeats are avoided while unused contents remain, and the split is shuffled. The two splits draw from separate
    /// streams, so the test split does not change with the training count.
    /// </summary>
    public static SyntheticReasoningDataset Generate(SyntheticReasoningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        string images = Path.Combine(Path.GetFullPath(options.OutputFolder), "images");
        Directory.CreateDirectory(images);
        var written = new HashSet<string>(StringComparer.Ordinal);
        var train = Draw(SyntheticSplit.Train, options.TrainCount, options, images, written);
        var test = Draw(SyntheticSplit.Test, options.TestCount, options, images, written);
        return new SyntheticReasoningDataset(train, test);
    }

    /// <summary>
    /// Plausible wrong rationales for <paramref name="item"/> (a miscount, a misread colour or digit, the wrong
    /// operation or formula, the other option), distinct, each ending in "Final answer: Y" with Y different from
    /// <see cref="SyntheticReasoningItem.Answer"/>. There is always at least one.
    /// </summary>
    public static IReadOnlyList<string> WrongRationales(SyntheticReasoningItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        string truth = item.Answer;
        return item.Task.WrongRationaleCandidates()
            .Where(r => AnswerExtractor.Extract(r).Answer is { } answer && answer != truth)
            .Distinct(StringComparer.Ordinal)
            .ToList();
    }

    private static void Validate(SyntheticReasoningOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.OutputFolder))
            throw new ArgumentException("OutputFolder must name a folder.", nameof(options));
        if (options.TrainCount < 0 || options.TestCount < 0)
            throw new ArgumentOutOfRangeException(nameof(options), "TrainCount and TestCount must not be negative.");
        if (options.ImageSize is < 28 or > 1024)
            throw new ArgumentOutOfRangeException(nameof(options), options.ImageSize, "ImageSize must be between 28 and 1024 pixels.");
        if (options.Families is null || options.Families.Count == 0)
            throw new ArgumentException("Families must name at least one family.", nameof(options));
        foreach (var family in options.Families)
            if (!Enum.IsDefined(family))
                throw new ArgumentOutOfRangeException(nameof(options), family, "Unknown synthetic task family.");
    }

    private static List<SyntheticReasoningItem> Draw(SyntheticSplit split, int count, SyntheticReasoningOptions options,
        string images, HashSet<string> written)
    {
        var random = new Random(unchecked(options.Seed * 7919 + (split == SyntheticSplit.Train ? 1 : 2)));
        var families = options.Families.Distinct().ToArray();
        var used = new HashSet<string>(StringComparer.Ordinal);
        var tasks = new List<SyntheticTask>(count);
        for (int i = 0; i < count; i++)
            tasks.Add(DrawTask(families[i % families.Length], split, random, used));
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tasks));

        var items = new List<SyntheticReasoningItem>(count);
        string prefix = split == SyntheticSplit.Train ? "train" : "test";
        foreach (var task in tasks)
        {
            string file = Path.Combine(images, $"{FamilyName(task.Family)}-{Fnv1a(task.Key):x16}-{options.ImageSize}.png");
            if (written.Add(file))
            {
                // Bytes already on disk are not written again: an unchanged file keeps the fingerprints of data made
                // from it (a training checkpoint to resume from, a reference log-prob cache) valid on a rerun.
                var png = SyntheticDrawing.RenderPng(options.ImageSize, task.Draw);
                if (!File.Exists(file) || !File.ReadAllBytes(file).AsSpan().SequenceEqual(png))
                    File.WriteAllBytes(file, png);
            }
            items.Add(new SyntheticReasoningItem($"{prefix}-{items.Count:D5}", split, file, task));
        }
        return items;
    }

    private static SyntheticTask DrawTask(SyntheticTaskFamily family, SyntheticSplit split, Random random, HashSet<string> used)
    {
        SyntheticTask? repeat = null;
        for (int draws = 0; draws < MaxDraws; draws++)
        {
            var task = DrawAny(family, random);
            if (SplitOf(task.Key) != split)
                continue;
            if (used.Add(task.Key))
                return task;
            repeat ??= task;
            if (draws >= FreshAttempts * TestBuckets)
                return repeat;
        }
        return repeat ?? throw new InvalidOperationException($"No {FamilyName(family)} item of the {split} split could be drawn.");
    }

    private static SyntheticTask DrawAny(SyntheticTaskFamily family, Random random) => family switch
    {
        SyntheticTaskFamily.Counting => CountingTask.Draw(random),
        SyntheticTaskFamily.BarComparison => BarTask.Draw(random),
        SyntheticTaskFamily.Arithmetic => ArithmeticTask.Draw(random),
        _ => RectangleTask.Draw(random),
    };

    private static ulong Fnv1a(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return hash;
    }
}
