using System.Globalization;
using System.Text;

namespace Microsoft.ML.Preference.Text.Prompts;

/// <summary>
/// InternVL's <c>&lt;image&gt;</c> placeholders: where the user text puts an image, and the token span it becomes,
/// <c>&lt;img&gt;</c> + <c>&lt;IMG_CONTEXT&gt;</c> × (num_image_token · tiles) + <c>&lt;/img&gt;</c>.
/// </summary>
internal static class ImagePlaceholders
{
    /// <summary>The placeholder InternVL's data and <c>chat()</c> use.</summary>
    public const string Placeholder = "<image>";

    /// <summary>How many placeholders <paramref name="text"/> holds.</summary>
    public static int Count(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int n = 0;
        for (int at = text.IndexOf(Placeholder, StringComparison.Ordinal); at >= 0; at = text.IndexOf(Placeholder, at + Placeholder.Length, StringComparison.Ordinal))
            n++;
        return n;
    }

    /// <summary>
    /// What goes before a question that has no placeholder: nothing without images; <c>"&lt;image&gt;\n"</c> for one
    /// (InternVL's datasets and <c>chat()</c>); for several, one line per image, <c>"Image-1: &lt;image&gt;\nImage-2: &lt;image&gt;\n"</c>,
    /// the multi-image form of InternVL's model cards. (InternVL's own code prepends a single placeholder whatever the
    /// number of images and then fails its image-count check, so this is the documented form, not a code path.)
    /// </summary>
    /// <param name="imageCount">The number of images of the sample.</param>
    public static string Prefix(int imageCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(imageCount);
        if (imageCount <= 1)
            return imageCount == 0 ? "" : Placeholder + "\n";
        var text = new StringBuilder();
        for (int i = 0; i < imageCount; i++)
            text.Append(CultureInfo.InvariantCulture, $"{ImageLabel(i)}{Placeholder}\n");
        return text.ToString();
    }

    /// <summary>The label before image <paramref name="index"/> (0-based) in a multi-image prefix: "Image-1: ".</summary>
    internal static string ImageLabel(int index) => string.Create(CultureInfo.InvariantCulture, $"Image-{index + 1}: ");

    /// <summary>
    /// Replaces the placeholders in order by their token spans, as text: what InternVL's <c>chat()</c> and
    /// <c>preprocess_*</c> hand to the tokenizer. Useful to look at a prompt; <see cref="PromptBuilder"/> builds the ids
    /// without writing thousands of <c>&lt;IMG_CONTEXT&gt;</c> strings.
    /// </summary>
    /// <param name="text">Text with placeholders.</param>
    /// <param name="contextTokensPerImage">For each image, num_image_token · tiles.</param>
    /// <exception cref="ArgumentException">The numbers of placeholders and images differ.</exception>
    public static string Expand(string text, IReadOnlyList<int> contextTokensPerImage)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(contextTokensPerImage);
        int count = Count(text);
        if (count != contextTokensPerImage.Count)
            throw new ArgumentException($"The text has {count} {Placeholder} placeholder(s) but {contextTokensPerImage.Count} image(s) were given.", nameof(text));
        var result = new StringBuilder(text.Length);
        int from = 0;
        foreach (int n in contextTokensPerImage)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n, nameof(contextTokensPerImage));
            int at = text.IndexOf(Placeholder, from, StringComparison.Ordinal);
            result.Append(text, from, at - from).Append(SpecialTokenIds.ImageStartToken);
            for (int i = 0; i < n; i++)
                result.Append(SpecialTokenIds.ImageContextToken);
            result.Append(SpecialTokenIds.ImageEndToken);
            from = at + Placeholder.Length;
        }
        return result.Append(text, from, text.Length - from).ToString();
    }
}
