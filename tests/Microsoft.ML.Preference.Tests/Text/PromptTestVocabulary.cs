using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Preference.Text.Prompts;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>
/// The synthetic vocabulary of the tiny-internvl fixtures as a text → ids function: the added tokens of the fixture's
/// added_tokens.json, "\n" = 3, "system"/"user"/"assistant" = 5/6/7, and words written "w{id}" (ids 8..87) separated
/// by spaces. It lets the prompt builder run on the fixture's own ids.
/// </summary>
internal sealed partial class PromptTestVocabulary
{
    public const int NewLine = 3, SystemWord = 5, UserWord = 6, AssistantWord = 7;

    private readonly Regex _pieces;

    public PromptTestVocabulary(IReadOnlyDictionary<string, int> special)
    {
        Special = special;
        string alternatives = string.Join("|", special.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape));
        _pieces = new Regex($"{alternatives}|\n|[^\\s<]+|\\S", RegexOptions.CultureInvariant);
    }

    public static PromptTestVocabulary ForFixture(string fixture)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", fixture, "added_tokens.json")));
        return new PromptTestVocabulary(doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()));
    }

    /// <summary>Chat and image tokens with the tiny-internvl (Qwen2) ids.</summary>
    public static PromptTestVocabulary Qwen2Like() => ForFixture("tiny-internvl");

    public IReadOnlyDictionary<string, int> Special { get; }

    public int Id(string special) => Special[special];

    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (Match m in _pieces.Matches(text))
        {
            string p = m.Value;
            if (Special.TryGetValue(p, out int s))
                ids.Add(s);
            else if (p == "\n")
                ids.Add(NewLine);
            else if (p == "system")
                ids.Add(SystemWord);
            else if (p == "user")
                ids.Add(UserWord);
            else if (p == "assistant")
                ids.Add(AssistantWord);
            else if (WordPattern().Match(p) is { Success: true } w)
                ids.Add(int.Parse(w.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            else
                throw new ArgumentException($"The fixture vocabulary has no token for \"{p}\" (in \"{text}\").");
        }
        return ids;
    }

    /// <summary>An encoder with this vocabulary; BOS and pad as given.</summary>
    public PromptEncoder Encoder(int padId, int? bosId = null) =>
        new(Encode, padId, bosId, Id("<img>"), Id("</img>"), Id("<IMG_CONTEXT>"));

    /// <summary>"w12 w40 w9" for ids [12, 40, 9].</summary>
    public static string Words(IEnumerable<long> ids) => string.Join(" ", ids.Select(i => $"w{i}"));

    [GeneratedRegex("^w([0-9]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex WordPattern();
}
