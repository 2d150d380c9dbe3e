using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Text.Templates;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>
/// Prompt building rules on the fixture's synthetic vocabulary (words "w{id}", "\n" = 3, Qwen2-style special ids
/// 88..93, pad 88): placeholders, stripping, multi-turn labels, truncation, padding.
/// </summary>
public class PromptBuilderTests
{
    private const int Pad = 88, ImStart = 89, ImEnd = 90, ImgStart = 91, ImgEnd = 92, Context = 93, NL = PromptTestVocabulary.NewLine;
    private const int U = PromptTestVocabulary.UserWord, A = PromptTestVocabulary.AssistantWord, S = PromptTestVocabulary.SystemWord;

    private static readonly PromptTestVocabulary Vocabulary = PromptTestVocabulary.Qwen2Like();

    private static PromptBuilder Builder(ChatTemplate? template = null, int? maxLength = null, int numImageToken = 2, PromptEncoder? encoder = null) =>
        new(template ?? ChatTemplates.Hermes2, encoder ?? Vocabulary.Encoder(Pad), numImageToken) { SystemMessage = "w8", MaxLength = maxLength };

    private static int[] Seq(params int[] ids) => ids;

    // <|im_start|>system\nw8<|im_end|> : the system turn of every row here.
    private static readonly int[] SystemTurn = [ImStart, S, NL, 8, ImEnd];

    [Fact]
    public void SingleImageIsPrependedWithANewline()
    {
        var prompt = Builder().BuildPrompt("w20 w21", [2]);
        Assert.Equal([.. SystemTurn, ImStart, U, NL, ImgStart, Context, Context, Context, Context, ImgEnd, NL, 20, 21, ImEnd, ImStart, A, NL], prompt.InputIds);
        Assert.Equal(4, prompt.ImageContextTokens);
        Assert.Equal(prompt.Length, prompt.PromptLength);
        Assert.All(prompt.AttentionMask, m => Assert.Equal(1, m));
    }

    [Fact]
    public void TextOnlyPromptHasNoImageSpan()
    {
        var prompt = Builder().BuildPrompt("w20");
        Assert.Equal([.. SystemTurn, ImStart, U, NL, 20, ImEnd, ImStart, A, NL], prompt.InputIds);
        Assert.Equal(0, prompt.ImageContextTokens);
    }

    [Fact]
    public void PlaceholderCountMustMatchTheImagesAndNamesTheRow()
    {
        var ex = Assert.Throws<PromptBuildException>(() => Builder().BuildPrompt("<image> w20 <image>", [1], rowIndex: 5));
        Assert.Equal(5, ex.RowIndex);
        Assert.StartsWith("Row 6: its user text has 2 <image> placeholder(s) but 1 image(s) were given.", ex.Message, StringComparison.Ordinal);
        var none = Assert.Throws<PromptBuildException>(() => Builder().BuildPrompt("w20 <image>"));
        Assert.StartsWith("The row: its user text has 1 <image>", none.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => Builder().BuildPrompt("w20", [0]));
    }

    [Fact]
    public void PlaceholdersMayBeInAnyUserTurnInOrder()
    {
        var prompt = Builder().BuildPrompt(
            [ChatMessage.User("<image> w20"), ChatMessage.Assistant("w21"), ChatMessage.User("w22 <image>")], [1, 2]);
        Assert.Equal(
            [.. SystemTurn, ImStart, U, NL, ImgStart, Context, Context, ImgEnd, 20, ImEnd, ImStart, A, NL, 21, ImEnd,
             ImStart, U, NL, 22, ImgStart, Context, Context, Context, Context, ImgEnd, ImEnd, ImStart, A, NL], prompt.InputIds);
    }

    [Fact]
    public void OnlyTheFinalResponseIsLabelled()
    {
        var row = Builder().BuildTraining([ChatMessage.User("w20"), ChatMessage.Assistant("w21"), ChatMessage.User("w22")], "w23 w24");
        Assert.Equal([23, 24, ImEnd], row.Labels.Where(l => l != PromptBuilder.IgnoreIndex));
        Assert.Equal(3, row.LabelCount);
        Assert.Equal(row.Length - 3, row.PromptLength);
        Assert.True(row.EndsTurn);
    }

    [Fact]
    public void PromptsMustEndWithAUserTurn()
    {
        var ex = Assert.Throws<PromptBuildException>(() => Builder().BuildTraining([ChatMessage.User("w20"), ChatMessage.Assistant("w21")], "w22", rowIndex: 2));
        Assert.Contains("Row 3: a prompt must end with a user turn", ex.Message, StringComparison.Ordinal);
        var order = Assert.Throws<PromptBuildException>(() => Builder().BuildPrompt([ChatMessage.Assistant("w21")], rowIndex: 3));
        Assert.StartsWith("Row 4: Message 0 has role Assistant", order.Message, StringComparison.Ordinal);
        Assert.Throws<PromptBuildException>(() => Builder().BuildTraining("w20", "", rowIndex: 1));
    }

    [Fact]
    public void SystemMessageComesFromTheRowTheBuilderOrTheTemplate()
    {
        var fromRow = Builder().BuildPrompt([ChatMessage.System("w9 w10"), ChatMessage.User("w20")]);
        Assert.Equal([ImStart, S, NL, 9, 10, ImEnd], fromRow.InputIds.Take(6));
        var defaultText = new PromptBuilder(ChatTemplates.Hermes2, CharEncoder(), 1).BuildPrompt("x");
        Assert.Equal(ChatTemplates.Hermes2.Render([ChatMessage.User("x")], addGenerationPrompt: true), Text(defaultText.InputIds));
    }

    // One id per character: the builder's ids spell the text it rendered.
    private static PromptEncoder CharEncoder() => new(t => [.. t.Select(c => (int)c)], 0);

    private static string Text(IEnumerable<int> ids) => new([.. ids.Select(i => (char)i)]);

    public static TheoryData<string> TemplateNames() => [.. ChatTemplates.Names];

    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void BuilderTextIsTheTemplatesRendering(string name)
    {
        var template = ChatTemplates.Get(name);
        var builder = new PromptBuilder(template, CharEncoder(), 1) { SystemMessage = "Be brief." };
        ChatMessage[] prompt = [ChatMessage.User("First?"), ChatMessage.Assistant("One."), ChatMessage.User("Second?")];
        Assert.Equal(template.Render(prompt, addGenerationPrompt: true, systemMessage: "Be brief."), Text(builder.BuildPrompt(prompt).InputIds));
        var row = builder.BuildTraining(prompt, "Two.");
        Assert.Equal(template.Render([.. prompt, ChatMessage.Assistant("Two.")], systemMessage: "Be brief."), Text(row.InputIds));
        Assert.Equal("Two." + template.EndOfTurn, Text(row.Labels.Where(l => l != PromptBuilder.IgnoreIndex)));
    }

    [Fact]
    public void InternLM2StripsTrainingMessagesButNotPrompts()
    {
        var builder = Builder(ChatTemplates.InternLM2Chat, encoder: Vocabulary.Encoder(Pad, bosId: 1));
        var stripped = builder.BuildTraining("  w20 w21\n", "\nw30 ", [1]);
        var plain = builder.BuildTraining("w20 w21", "w30", [1]);
        Assert.Equal(plain.InputIds, stripped.InputIds);
        Assert.Equal(1, stripped.InputIds[0]);
        Assert.Equal(PromptBuilder.IgnoreIndex, stripped.Labels[0]);
        Assert.Equal([30, ImEnd], stripped.Labels.Where(l => l != PromptBuilder.IgnoreIndex));

        var prompt = builder.BuildPrompt("w20 w21\n", [1]);
        Assert.Equal([20, 21, NL, ImEnd, ImStart, A, NL], prompt.InputIds.TakeLast(7));
        // Hermes-2 (preprocess_mpt) does not strip.
        Assert.Equal([NL, 30, ImEnd], Builder().BuildTraining("w20", "\nw30").Labels.Where(l => l != PromptBuilder.IgnoreIndex));
    }

    [Fact]
    public void AMergeAcrossTheResponseBoundarySplitsTheTextThere()
    {
        // An encoder that joins "\n\n" into one id (4), as byte-level BPE joins newlines: the response "\nw30" after
        // "assistant\n" would change the prompt's last id, so the response is encoded on its own.
        IReadOnlyList<int> Joining(string text)
        {
            var ids = new List<int>();
            foreach (int id in Vocabulary.Encode(text))
            {
                if (id == NL && ids.Count > 0 && ids[^1] == NL)
                    ids[^1] = 4;
                else
                    ids.Add(id);
            }
            return ids;
        }
        var builder = Builder(encoder: new PromptEncoder(Joining, Pad, null, ImgStart, ImgEnd, Context));
        var row = builder.BuildTraining("w20", "\nw30");
        var prompt = builder.BuildPrompt("w20");
        Assert.Equal(prompt.InputIds, row.InputIds.Take(row.PromptLength));
        Assert.Equal([NL, 30, ImEnd], row.InputIds.Skip(row.PromptLength));
        Assert.Equal([NL, 30, ImEnd], row.Labels.Skip(row.PromptLength));
    }

    [Fact]
    public void ResponseIsShortenedFirstKeepingItsStart()
    {
        var full = Builder().BuildTraining("w20 w21", "w30 w31 w32 w33", [1]);
        var row = Builder(maxLength: full.Length - 2).BuildTraining("w20 w21", "w30 w31 w32 w33", [1]);
        Assert.Equal(full.InputIds.Take(full.Length - 2), row.InputIds);
        Assert.Equal([30, 31, 32], row.Labels.Where(l => l != PromptBuilder.IgnoreIndex));
        Assert.Equal(new TruncationReport(0, 1, 1), row.Truncation);
        Assert.True(row.Truncation.IsTruncated);
        Assert.Equal(2, row.Truncation.TotalRemoved);
        Assert.False(row.EndsTurn);

        var exact = Builder(maxLength: full.Length).BuildTraining("w20 w21", "w30 w31 w32 w33", [1]);
        Assert.Equal(TruncationReport.None, exact.Truncation);
        Assert.True(exact.EndsTurn);
    }

    [Fact]
    public void InternVL2_5DropsTheTrailingNewlineBeforeTheEndOfTurn()
    {
        var template = ChatTemplates.InternVL2_5;
        var full = Builder(template).BuildTraining("w20", "w30 w31");
        Assert.Equal([30, 31, ImEnd, NL], full.InputIds.TakeLast(4));
        Assert.Equal([30, 31, ImEnd, PromptBuilder.IgnoreIndex], full.Labels.TakeLast(4));
        var row = Builder(template, maxLength: full.Length - 1).BuildTraining("w20", "w30 w31");
        Assert.Equal(new TruncationReport(0, 0, 1), row.Truncation);
        Assert.True(row.EndsTurn);
        Assert.Equal([30, 31, ImEnd], row.InputIds.TakeLast(3));
    }

    [Fact]
    public void PromptTextIsCutFromTheOldestUserTextNeverImagesOrTemplate()
    {
        ChatMessage[] prompt = [ChatMessage.User("w10 w11 w12"), ChatMessage.Assistant("w13 w14"), ChatMessage.User("<image> w15 w16")];
        var full = Builder().BuildTraining(prompt, "w30 w31", [1]);
        // Room for the prompt and one response token means 4 prompt ids must go: w10 w11 w12, then w13.
        int max = full.PromptLength - 3;
        var row = Builder(maxLength: max).BuildTraining(prompt, "w30 w31", [1], rowIndex: 9);
        Assert.Equal(max, row.Length);
        Assert.Equal(
            [.. SystemTurn, ImStart, U, NL, ImEnd, ImStart, A, NL, 14, ImEnd, ImStart, U, NL, ImgStart, Context, Context, ImgEnd, 15, 16, ImEnd, ImStart, A, NL, 30],
            row.InputIds);
        Assert.Equal(new TruncationReport(4, 1, 1), row.Truncation);
        Assert.Equal(1, row.LabelCount);
    }

    [Fact]
    public void InsertedImageTextAndTheSystemMessageAreNeverCut()
    {
        // 21 ids: system turn 5, user header 3, image 4, inserted "\n" 1, user text 4, <|im_end|> 1, generation prompt 3.
        var row = Builder(maxLength: 20, numImageToken: 1).BuildPrompt("w20 w21 w22 w23", [2]);
        Assert.Equal(20, row.Length);
        Assert.Equal([.. SystemTurn, ImStart, U, NL, ImgStart, Context, Context, ImgEnd, NL, 21, 22, 23, ImEnd, ImStart, A, NL], row.InputIds);
        Assert.Equal(1, row.Truncation.PromptTokensRemoved);

        var ex = Assert.Throws<PromptTooLongException>(() => Builder(maxLength: 16, numImageToken: 1).BuildPrompt("w20 w21 w22 w23", [2], rowIndex: 4));
        Assert.Equal(4, ex.RowIndex);
        Assert.Equal(17, ex.MinimumLength);      // 21 ids minus 4 of user text
        Assert.Equal(4, ex.ImageTokens);
        Assert.Contains("Row 5 cannot fit in 16 tokens", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PairsAreTruncatedOverOneSharedPrompt()
    {
        var builder = Builder(maxLength: 24);
        var pair = builder.BuildPair("w20 w21 w22", "w30 w31 w32 w33 w34 w35 w36 w37", "w40", [1], rowIndex: 0);
        Assert.Equal(pair.Chosen.InputIds.Take(pair.PromptLength), pair.Rejected.InputIds.Take(pair.PromptLength));
        Assert.Equal(24, pair.Chosen.Length);
        Assert.False(pair.Chosen.EndsTurn);
        Assert.True(pair.Rejected.EndsTurn);
        Assert.Equal(TruncationReport.None, pair.Rejected.Truncation);
        Assert.Equal([40, ImEnd], pair.Rejected.Labels.Where(l => l != PromptBuilder.IgnoreIndex));

        // A prompt too long for the longer response's first token is cut for both rows alike.
        var tight = Builder(maxLength: 19).BuildPair("w20 w21 w22", "w30 w31 w32", "w40", [1]);
        Assert.Equal(tight.Chosen.InputIds.Take(tight.PromptLength), tight.Rejected.InputIds.Take(tight.PromptLength));
        Assert.Equal(2, tight.Chosen.Truncation.PromptTokensRemoved);
        Assert.Equal(2, tight.Rejected.Truncation.PromptTokensRemoved);
        Assert.Equal([30], tight.Chosen.Labels.Where(l => l != PromptBuilder.IgnoreIndex));
        Assert.Equal([40], tight.Rejected.Labels.Where(l => l != PromptBuilder.IgnoreIndex));
    }

    [Fact]
    public void BatchesPadRightForTrainingAndLeftForGeneration()
    {
        var builder = Builder();
        var a = builder.BuildTraining("w20", "w30 w31 w32");
        var b = builder.BuildTraining("w20", "w30");
        var right = builder.Collate([a, b]);
        Assert.Equal(a.Length, right.Length);
        Assert.Equal([.. b.InputIds.Select(i => (long)i), Pad, Pad], right.Row(right.InputIds, 1).ToArray());
        Assert.Equal([.. b.Labels.Select(i => (long)i), -100, -100], right.Row(right.Labels, 1).ToArray());
        Assert.Equal([.. Enumerable.Repeat(1L, b.Length), 0, 0], right.Row(right.AttentionMask, 1).ToArray());

        var left = builder.Collate([builder.BuildPrompt("w20 w21"), builder.BuildPrompt("w20")], PaddingSide.Left);
        Assert.Equal([Pad, ImStart], left.Row(left.InputIds, 1)[..2].ToArray());
        Assert.Equal([0L, 1L], left.Row(left.AttentionMask, 1)[..2].ToArray());

        var pairs = builder.Collate([builder.BuildPair("w20", "w30", "w40"), builder.BuildPair("w21", "w31", "w41")]);
        Assert.Equal(4, pairs.Rows);
        Assert.Equal([30L, 31L, 40L, 41L], Enumerable.Range(0, 4).Select(r => pairs.Row(pairs.Labels, r).ToArray().First(l => l != -100)));

        Assert.Throws<ArgumentException>(() => PaddedBatch.Create([], Pad));
        Assert.Throws<ArgumentException>(() => PaddedBatch.Create([a], Pad, length: a.Length - 1));
        Assert.Equal(a.Length + 3, PaddedBatch.Create([a], Pad, length: a.Length + 3).Length);
    }

    [Fact]
    public void EncoderWithoutMarkersForTheImageSpanIsRefused()
    {
        // "<img>" mapped to two ids: the builder checks that the markers are single ids before expanding.
        var encoder = new PromptEncoder(t => [.. Vocabulary.Encode(t.Replace("<img>", "w60 w61", StringComparison.Ordinal))], Pad, null, ImgStart, ImgEnd, Context);
        var ex = Assert.Throws<PromptBuildException>(() => Builder(encoder: encoder).BuildPrompt("w20", [1], rowIndex: 8));
        Assert.StartsWith("Row 9: the tokenizer encodes \"<img></img>\" as [60, 61, 92]", ex.Message, StringComparison.Ordinal);
    }
}
