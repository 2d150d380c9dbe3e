using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Text.Templates;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>The InternVL conversation templates, against the strings of conversation.py's get_prompt().</summary>
public class ChatTemplateTests
{
    private const string InternVL2System = "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。";
    private const string InternVL2_5System = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。";

    [Fact]
    public void RegistryHasInternVLTemplatesByConfigName()
    {
        Assert.Equal(["Hermes-2", "internlm2-chat", "internvl2_5", "phi3-chat"], ChatTemplates.Names);
        Assert.Same(ChatTemplates.Hermes2, ChatTemplates.Get("Hermes-2"));
        Assert.Same(ChatTemplates.InternLM2Chat, ChatTemplates.Get("internlm2-chat"));
        Assert.Same(ChatTemplates.InternVL2_5, ChatTemplates.Get("internvl2_5"));
        Assert.Same(ChatTemplates.Phi3Chat, ChatTemplates.Get("phi3-chat"));
        Assert.Same(ChatTemplates.Hermes2, ChatTemplates.Get("hermes-2"));
    }

    [Fact]
    public void UnknownTemplateNamesTheKnownOnes()
    {
        var ex = Assert.Throws<KeyNotFoundException>(() => ChatTemplates.Get("vicuna_v1.1"));
        Assert.Contains("'vicuna_v1.1'", ex.Message);
        Assert.Contains("Hermes-2, internlm2-chat, internvl2_5, phi3-chat", ex.Message);
        Assert.False(ChatTemplates.TryGet("chatml", out _));
    }

    [Fact]
    public void DefaultSystemMessagesAreConversationPys()
    {
        Assert.Equal(InternVL2System, ChatTemplates.Hermes2.DefaultSystemMessage);
        Assert.Equal(InternVL2System, ChatTemplates.InternLM2Chat.DefaultSystemMessage);
        Assert.Equal(InternVL2System, ChatTemplates.Phi3Chat.DefaultSystemMessage);
        Assert.Equal(InternVL2_5System, ChatTemplates.InternVL2_5.DefaultSystemMessage);
    }

    [Fact]
    public void Hermes2RendersMptTurnsWithoutNewlinesBetweenThem()
    {
        string text = ChatTemplates.Hermes2.Render([ChatMessage.User("<image>\nWhat is it?"), ChatMessage.Assistant("A cat."), ChatMessage.User("Colour?")],
            addGenerationPrompt: true);
        Assert.Equal(
            $"<|im_start|>system\n{InternVL2System}<|im_end|>" +
            "<|im_start|>user\n<image>\nWhat is it?<|im_end|><|im_start|>assistant\nA cat.<|im_end|>" +
            "<|im_start|>user\nColour?<|im_end|><|im_start|>assistant\n", text);
    }

    [Fact]
    public void InternLM2ChatRendersTheSameTextAsHermes2()
    {
        ChatMessage[] messages = [ChatMessage.User("Hi"), ChatMessage.Assistant("Hello")];
        Assert.Equal(ChatTemplates.Hermes2.Render(messages), ChatTemplates.InternLM2Chat.Render(messages));
        Assert.True(ChatTemplates.InternLM2Chat.StripsTrainingMessages);
        Assert.False(ChatTemplates.Hermes2.StripsTrainingMessages);
    }

    [Fact]
    public void InternVL2_5PutsANewlineAfterEachEndOfTurn()
    {
        string text = ChatTemplates.InternVL2_5.Render([ChatMessage.System("Be brief."), ChatMessage.User("Hi"), ChatMessage.Assistant("Hello")]);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n", text);
        Assert.Equal("<|im_end|>", ChatTemplates.InternVL2_5.EndOfTurn);
    }

    [Fact]
    public void Phi3ChatUsesPhi3Markers()
    {
        string text = ChatTemplates.Phi3Chat.Render([ChatMessage.User("Hi")], addGenerationPrompt: true, systemMessage: "S");
        Assert.Equal("<|system|>\nS<|end|><|user|>\nHi<|end|><|assistant|>\n", text);
    }

    [Fact]
    public void StopStringsStartWithTheEndOfTurnToken()
    {
        Assert.Equal(["<|im_end|>", "<|endoftext|>"], ChatTemplates.Hermes2.StopStrings);
        Assert.Equal(["<|im_end|>"], ChatTemplates.InternLM2Chat.StopStrings);
        Assert.Equal(["<|im_end|>"], ChatTemplates.InternVL2_5.StopStrings);
        Assert.Equal(["<|end|>"], ChatTemplates.Phi3Chat.StopStrings);
        Assert.Equal("<|im_start|>assistant\n", ChatTemplates.Hermes2.GenerationPrompt);
    }

    [Fact]
    public void EmptySystemAndEmptyMessagesRenderAsConversationPyDoes()
    {
        // system_template.format('') + sep is always written; an empty message writes its role only.
        string text = ChatTemplates.Hermes2.Render([ChatMessage.User("Q"), ChatMessage.Assistant("")], systemMessage: "");
        Assert.Equal("<|im_start|>system\n<|im_end|><|im_start|>user\nQ<|im_end|><|im_start|>assistant\n", text);
    }

    [Fact]
    public void TurnsOutOfOrderAreRefused()
    {
        var ex = Assert.Throws<ArgumentException>(() => ChatTemplates.Hermes2.Render([ChatMessage.Assistant("A")]));
        Assert.Contains("Message 0 has role Assistant where User must come", ex.Message);
        Assert.Throws<ArgumentException>(() => ChatTemplates.Hermes2.Render([ChatMessage.User("A"), ChatMessage.User("B")]));
        Assert.Throws<ArgumentException>(() => ChatTemplates.Hermes2.Render([ChatMessage.User("A"), ChatMessage.System("B")]));
    }

    [Fact]
    public void CustomTemplatesNeedTheSystemField()
    {
        Assert.Throws<ArgumentException>(() => new ChatTemplate("x", "<s>", "", "U", "A", "</s>"));
        var t = new ChatTemplate("x", "[{system_message}]", "d", "U:", "A:", "\n</s>\n");
        Assert.Equal("</s>", t.EndOfTurn);
        Assert.Equal("[d]\n</s>\nU:q\n</s>\nA:", t.Render([ChatMessage.User("q")], addGenerationPrompt: true));
    }

    [Fact]
    public void ImagePlaceholdersExpandInOrder()
    {
        Assert.Equal(0, ImagePlaceholders.Count("no image"));
        Assert.Equal(2, ImagePlaceholders.Count("<image><image>"));
        Assert.Equal("", ImagePlaceholders.Prefix(0));
        Assert.Equal("<image>\n", ImagePlaceholders.Prefix(1));
        Assert.Equal("Image-1: <image>\nImage-2: <image>\nImage-3: <image>\n", ImagePlaceholders.Prefix(3));
        Assert.Equal("a<img><IMG_CONTEXT><IMG_CONTEXT></img>b<img><IMG_CONTEXT></img>", ImagePlaceholders.Expand("a<image>b<image>", [2, 1]));
        Assert.Throws<ArgumentException>(() => ImagePlaceholders.Expand("<image>", [1, 1]));
    }
}
