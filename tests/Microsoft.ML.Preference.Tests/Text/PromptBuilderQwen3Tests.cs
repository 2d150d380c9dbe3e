using Microsoft.ML.Preference.Text;
using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Text.Templates;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>The Qwen3 tokenizer with InternVL's image tokens added (as an InternVL3.5 folder lists them), loaded once.</summary>
public sealed class Qwen3InternVLTokenizerFixture : IDisposable
{
    public const int ImageStart = 151_669, ImageEnd = 151_670, ImageContext = 151_671, ImStart = 151_644, ImEnd = 151_645, EndOfText = 151_643;

    private readonly TempFolder _folder = new();

    public Qwen3InternVLTokenizerFixture()
    {
        _folder.Copy(Path.Combine(TokenizerTestFiles.Qwen3Folder, "tokenizer.json"));
        _folder.Copy(Path.Combine(TokenizerTestFiles.Qwen3Folder, "tokenizer_config.json"));
        _folder.Write("added_tokens.json", """{"<img>": 151669, "</img>": 151670, "<IMG_CONTEXT>": 151671}""");
        Tokenizer = ModelTokenizer.FromFolder(_folder.Path);
    }

    public ModelTokenizer Tokenizer { get; }

    public void Dispose() => _folder.Dispose();
}

/// <summary>The prompt builder on a real byte-level BPE tokenizer: whole-text ids, image spans, labels, truncation.</summary>
public class PromptBuilderQwen3Tests(Qwen3InternVLTokenizerFixture fixture) : IClassFixture<Qwen3InternVLTokenizerFixture>
{
    private const int NumImageToken = 256;

    private ModelTokenizer Tok => fixture.Tokenizer;

    private PromptBuilder Builder(ChatTemplate template, int? maxLength = null) =>
        new(template, PromptEncoder.FromTokenizer(Tok), NumImageToken) { MaxLength = maxLength };

    private static int Count(IEnumerable<int> ids, int id) => ids.Count(i => i == id);

    [Fact]
    public void EncoderTakesPadAndNoBosFromTheQwenFolder()
    {
        var encoder = PromptEncoder.FromTokenizer(Tok);
        Assert.Equal(Qwen3InternVLTokenizerFixture.EndOfText, encoder.PadId);
        Assert.Null(encoder.BosId);
        Assert.Equal(Qwen3InternVLTokenizerFixture.ImageContext, encoder.ImageContextId);
    }

    [Fact]
    public void Hermes2PromptIsTheWholeRenderedTextWithSpecialTokensAsSingleIds()
    {
        var prompt = Builder(ChatTemplates.Hermes2).BuildPrompt("What is shown in the picture?", [1]);

        string rendered = ChatTemplates.Hermes2.Render([ChatMessage.User("<image>\nWhat is shown in the picture?")], addGenerationPrompt: true);
        string expanded = ImagePlaceholders.Expand(rendered, [NumImageToken]);
        Assert.Equal(Tok.Encode(expanded), prompt.InputIds);
        Assert.Equal(expanded, Tok.Decode(prompt.InputIds));
        Assert.Equal(3, Count(prompt.InputIds, Qwen3InternVLTokenizerFixture.ImStart));
        Assert.Equal(2, Count(prompt.InputIds, Qwen3InternVLTokenizerFixture.ImEnd));
        Assert.Equal(1, Count(prompt.InputIds, Qwen3InternVLTokenizerFixture.ImageStart));
        Assert.Equal(1, Count(prompt.InputIds, Qwen3InternVLTokenizerFixture.ImageEnd));
        Assert.Equal(NumImageToken, Count(prompt.InputIds, Qwen3InternVLTokenizerFixture.ImageContext));
        Assert.Equal(Qwen3InternVLTokenizerFixture.ImStart, prompt.InputIds[0]);
        Assert.Equal(Tok.Encode("<|im_start|>assistant\n"), prompt.InputIds.TakeLast(3));
    }

    [Fact]
    public void TwoImagesOfFourAndThreeTilesGiveSevenTimes256ContextTokens()
    {
        const string response = "The first image shows a larger circle.";
        var row = Builder(ChatTemplates.Hermes2).BuildTraining("Compare the two images.", response, [4, 3]);

        Assert.Equal(7 * NumImageToken, Count(row.InputIds, Qwen3InternVLTokenizerFixture.ImageContext));
        Assert.Equal(7 * NumImageToken, row.ImageContextTokens);
        var starts = row.InputIds.Select((id, i) => (id, i)).Where(p => p.id == Qwen3InternVLTokenizerFixture.ImageStart).Select(p => p.i).ToArray();
        var ends = row.InputIds.Select((id, i) => (id, i)).Where(p => p.id == Qwen3InternVLTokenizerFixture.ImageEnd).Select(p => p.i).ToArray();
        Assert.Equal([4 * NumImageToken, 3 * NumImageToken], starts.Zip(ends, (s, e) => e - s - 1));
        Assert.Contains("Image-1: <img>", Tok.Decode(row.InputIds), StringComparison.Ordinal);
        Assert.Contains("</img>\nImage-2: <img>", Tok.Decode(row.InputIds), StringComparison.Ordinal);

        // Labels: exactly the response tokens and the closing <|im_end|>.
        var responseIds = Tok.Encode(response);
        Assert.Equal(responseIds.Count + 1, row.LabelCount);
        Assert.Equal([.. responseIds, Qwen3InternVLTokenizerFixture.ImEnd], row.Labels.Where(l => l != PromptBuilder.IgnoreIndex));
        Assert.Equal(row.InputIds.Skip(row.PromptLength), row.Labels.Skip(row.PromptLength));
        Assert.All(row.Labels.Take(row.PromptLength), l => Assert.Equal(PromptBuilder.IgnoreIndex, l));

        // The whole row is the tokenizer's encoding of InternVL's text.
        string text = ChatTemplates.Hermes2.Render(
            [ChatMessage.User("Image-1: <image>\nImage-2: <image>\nCompare the two images."), ChatMessage.Assistant(response)]);
        Assert.Equal(Tok.Encode(ImagePlaceholders.Expand(text, [4 * NumImageToken, 3 * NumImageToken])), row.InputIds);
    }

    [Fact]
    public void PlaceholdersInTheTextAreFilledInOrder()
    {
        var builder = Builder(ChatTemplates.Hermes2);
        var auto = builder.BuildPrompt("Compare.", [2, 5]);
        var written = builder.BuildPrompt("Image-1: <image>\nImage-2: <image>\nCompare.", [2, 5]);
        Assert.Equal(auto.InputIds, written.InputIds);

        var inline = builder.BuildPrompt("Left <image> and right <image>: same?", [1, 3]);
        string decoded = Tok.Decode(inline.InputIds);
        Assert.Contains("Left <img>", decoded, StringComparison.Ordinal);
        Assert.Equal(4 * NumImageToken, inline.ImageContextTokens);
    }

    [Fact]
    public void InternVL2_5RowsEndWithAnUnlabelledNewline()
    {
        var row = Builder(ChatTemplates.InternVL2_5).BuildTraining("Count the dots.", "Three.", [1]);
        Assert.Equal(Tok.Encode("\n"), row.InputIds.TakeLast(1));
        Assert.Equal(PromptBuilder.IgnoreIndex, row.Labels[^1]);
        Assert.Equal(Qwen3InternVLTokenizerFixture.ImEnd, row.Labels[^2]);
        Assert.Equal(Tok.Encode("Three.").Count + 1, row.LabelCount);
        Assert.True(row.EndsTurn);
        string text = ChatTemplates.InternVL2_5.Render([ChatMessage.User("<image>\nCount the dots."), ChatMessage.Assistant("Three.")]);
        Assert.Equal(Tok.Encode(ImagePlaceholders.Expand(text, [NumImageToken])), row.InputIds);
    }

    [Fact]
    public void PairsShareTheirPromptIds()
    {
        var pair = Builder(ChatTemplates.Hermes2).BuildPair("Which is bigger?", "The left one, since it covers more area.", "Right.", [2]);
        Assert.Equal(pair.Chosen.InputIds.Take(pair.PromptLength), pair.Rejected.InputIds.Take(pair.PromptLength));
        Assert.Equal(pair.Chosen.PromptLength, pair.Rejected.PromptLength);
        var batch = Builder(ChatTemplates.Hermes2).Collate([pair]);
        Assert.Equal(2, batch.Rows);
        Assert.Equal(pair.Chosen.Length, batch.Length);
        Assert.Equal(Qwen3InternVLTokenizerFixture.EndOfText, batch.Row(batch.InputIds, 1)[^1]);
        Assert.Equal(0, batch.Row(batch.AttentionMask, 1)[^1]);
        Assert.Equal(PromptBuilder.IgnoreIndex, batch.Row(batch.Labels, 1)[^1]);
    }

    [Fact]
    public void TruncationKeepsEveryImageTokenAndTheTemplate()
    {
        const string question = "Look at both pictures carefully and tell me which of the two shapes has more corners.";
        const string response = "The square has four corners and the triangle three, so the square has more.";
        var full = Builder(ChatTemplates.Hermes2).BuildTraining(question, response, [4, 3]);

        // Response first: 5 ids over the limit cost the closing <|im_end|> and 4 response tokens.
        var shorter = Builder(ChatTemplates.Hermes2, full.Length - 5).BuildTraining(question, response, [4, 3], rowIndex: 3);
        Assert.Equal(full.Length - 5, shorter.Length);
        Assert.Equal(new TruncationReport(0, 4, 1), shorter.Truncation);
        Assert.False(shorter.EndsTurn);
        Assert.Equal(full.InputIds.Take(shorter.Length), shorter.InputIds);
        Assert.Equal(full.LabelCount - 5, shorter.LabelCount);

        // Then user text: the prompt loses its question's first tokens, the response keeps one token.
        int max = full.PromptLength - 3;
        var cut = Builder(ChatTemplates.Hermes2, max).BuildTraining(question, response, [4, 3], rowIndex: 4);
        Assert.Equal(max, cut.Length);
        Assert.Equal(4, cut.Truncation.PromptTokensRemoved);
        Assert.Equal(1, cut.LabelCount);
        Assert.Equal(7 * NumImageToken, Count(cut.InputIds, Qwen3InternVLTokenizerFixture.ImageContext));
        Assert.Equal(2, Count(cut.InputIds, Qwen3InternVLTokenizerFixture.ImageStart));
        Assert.Equal(2, Count(cut.InputIds, Qwen3InternVLTokenizerFixture.ImageEnd));
        Assert.Equal(3, Count(cut.InputIds, Qwen3InternVLTokenizerFixture.ImStart));
        string decoded = Tok.Decode(cut.InputIds);
        Assert.StartsWith("<|im_start|>system\n" + ChatTemplates.Hermes2.DefaultSystemMessage + "<|im_end|><|im_start|>user\nImage-1: <img>", decoded, StringComparison.Ordinal);
        Assert.DoesNotContain(question, decoded, StringComparison.Ordinal);
        Assert.Contains(question[^40..], decoded, StringComparison.Ordinal);   // the end of the question is kept
        Assert.EndsWith("<|im_start|>assistant\nThe", decoded, StringComparison.Ordinal);
    }

    [Fact]
    public void ImagesLongerThanTheLimitNameTheRow()
    {
        var builder = Builder(ChatTemplates.Hermes2, maxLength: 1000);
        var ex = Assert.Throws<PromptTooLongException>(() => builder.BuildTraining("Compare.", "Same.", [4, 3], rowIndex: 17));
        Assert.Equal(17, ex.RowIndex);
        Assert.Equal(1000, ex.MaxLength);
        Assert.Equal(7 * NumImageToken + 4, ex.ImageTokens);
        Assert.True(ex.MinimumLength > 7 * NumImageToken);
        Assert.StartsWith("Row 18 cannot fit in 1000 tokens", ex.Message, StringComparison.Ordinal);
        Assert.Contains("1792 <IMG_CONTEXT>", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForModelTakesTemplateAndImageTokensFromTheConfig()
    {
        var config = Microsoft.ML.Preference.Modeling.Configuration.InternVLConfig.Load(Path.Combine(AppContext.BaseDirectory, "TestData", "tiny-internvl"));
        var builder = PromptBuilder.ForModel(config, Tok);
        Assert.Same(ChatTemplates.Hermes2, builder.Template);
        Assert.Equal(4, builder.NumImageToken);
        Assert.Equal(3 * 4, builder.BuildPrompt("Hi", [3]).ImageContextTokens);
        Assert.Throws<KeyNotFoundException>(() => PromptBuilder.ForModel(config with { Template = "llama3-chat" }, Tok));
    }

    [Fact]
    public void PlainQwenTokenizerCannotHoldImages()
    {
        var plain = new PromptBuilder(ChatTemplates.Hermes2, PromptEncoder.FromTokenizer(ModelTokenizer.FromFolder(TokenizerTestFiles.Qwen3Folder)), NumImageToken);
        var ex = Assert.Throws<InvalidOperationException>(() => plain.BuildPrompt("Hi", [1]));
        Assert.Contains("added_tokens.json", ex.Message, StringComparison.Ordinal);
        Assert.Equal(Tok.Encode(ChatTemplates.Hermes2.Render([ChatMessage.User("Hi")], addGenerationPrompt: true)), plain.BuildPrompt("Hi").InputIds);
    }
}
