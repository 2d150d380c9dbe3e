using Microsoft.ML.Preference.Text;
using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Text.Templates;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>
/// The prompt builder on the SentencePiece fixture (InternLM2-style, image markers as user-defined symbols): its ids
/// must be those of the whole conversation encoded at once, with BOS, not of pieces encoded one by one (which would
/// put SentencePiece's "▁" dummy prefix before every piece).
/// </summary>
public class PromptBuilderSentencePieceTests
{
    private static readonly ModelTokenizer Tok = ModelTokenizer.FromFolder(TokenizerTestFiles.SentencePieceFolder);

    [Fact]
    public void InternLM2RowIsTheWholeConversationEncodedOnceWithBos()
    {
        Assert.True(Tok.AddBosByDefault);
        var builder = new PromptBuilder(ChatTemplates.InternLM2Chat, PromptEncoder.FromTokenizer(Tok, padId: 2), numImageToken: 4)
        {
            SystemMessage = "You answer questions about pictures.",
        };
        const string question = "How many red circles are there?", response = "Step 1: count the red circles. Final answer: (C)";
        var row = builder.BuildTraining(question, response, [2]);

        string text = ChatTemplates.InternLM2Chat.Render([ChatMessage.User("<image>\n" + question), ChatMessage.Assistant(response)],
            systemMessage: builder.SystemMessage);
        var expected = Tok.Encode(ImagePlaceholders.Expand(text, [8]), addBos: true);
        Assert.Equal(expected, row.InputIds);
        Assert.Equal(Tok.BosId, row.InputIds[0]);
        Assert.Equal(8, row.ImageContextTokens);
        Assert.Equal(Tok.AddedTokens.ImEndId, row.Labels[^1]);
        Assert.Equal(row.InputIds.Skip(row.PromptLength), row.Labels.Skip(row.PromptLength));
        Assert.Equal(response, Tok.Decode(row.InputIds.Skip(row.PromptLength).SkipLast(1)));

        var prompt = builder.BuildPrompt(question, [2]);
        Assert.Equal(row.InputIds.Take(row.PromptLength), prompt.InputIds);
    }
}
