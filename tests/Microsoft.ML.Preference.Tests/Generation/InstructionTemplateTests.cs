using Microsoft.ML.Preference.Generation;

namespace Microsoft.ML.Preference.Tests.Generation;

/// <summary>The instruction templates: MMPR's exact prompts, stripping of known instructions, never instructing twice.</summary>
public sealed class InstructionTemplateTests
{
    // INSTRUCTION_EN of OpenGVLab/InternVL internvl_chat/tools/reasoning_data_pipeline/utils/constants.py, copied by hand.
    private const string MmprCotHead =
        "Your task is to answer the question below. Give step by step reasoning before you answer, and when you're ready to answer, " +
        "please use the format \"Final answer: ..\"\n\nQuestion:\n\n";

    private const string OurCot =
        "\nAnswer the question step by step. Show your reasoning, then give the final answer on the last line in the form \"Final answer: <answer>\".";

    [Fact]
    public void MmprWrapsTheQuestionInItsInstructionAndOursAppendsOne()
    {
        Assert.Equal(MmprCotHead + "How many red shapes?", InstructionTemplate.Mmpr.Apply("How many red shapes?", AnswerMode.ChainOfThought));
        Assert.Equal("How many red shapes?\nAnswer the question using a single word or phrase.",
            InstructionTemplate.Mmpr.Apply("How many red shapes?", AnswerMode.Direct));
        Assert.Equal("How many red shapes?" + OurCot, InstructionTemplate.MlNet.Apply("How many red shapes?  ", AnswerMode.ChainOfThought));
        Assert.Equal("How many red shapes?\nAnswer with the final answer only: a word, a number or an option letter.",
            InstructionTemplate.MlNet.Apply("How many red shapes?", AnswerMode.Direct));
        Assert.Same(InstructionTemplate.Mmpr, InstructionTemplate.Default);
    }

    [Theory]
    [InlineData("Which bar is taller?\nA. left\nB. right\nAnswer with the option's letter from the given choices directly.")]
    [InlineData("Is the square red? Please answer Yes or No.")]
    [InlineData("What colour is the square?\nAnswer the question using a single word or phrase.")]
    public void AKnownShortAnswerInstructionIsStrippedBeforeTheChainOfThoughtTemplate(string question)
    {
        var bare = InstructionTemplate.BareQuestion(question);
        Assert.False(question == bare);
        Assert.Equal(MmprCotHead + bare, InstructionTemplate.Mmpr.Apply(question, AnswerMode.ChainOfThought));
        Assert.Equal(bare + OurCot, InstructionTemplate.MlNet.Apply(question, AnswerMode.ChainOfThought));
        // For a direct answer the question already asks for one: it is kept as it is, not given a second instruction.
        Assert.Equal(question, InstructionTemplate.Mmpr.Apply(question, AnswerMode.Direct));
        Assert.Equal(question, InstructionTemplate.MlNet.Apply(question, AnswerMode.Direct));
    }

    [Fact]
    public void TheStrippedQuestionIsMmprsMinusTheInstructionTrimmed()
    {
        Assert.Equal("Is the square red?", InstructionTemplate.BareQuestion("Is the square red? Please answer Yes or No."));
        Assert.Equal("What colour?", InstructionTemplate.BareQuestion("What colour?\nAnswer the question using a single word or phrase."));
        // Only at the end, as MMPR's endswith: an instruction quoted inside the question stays.
        var inside = "Please answer Yes or No. Is it red?";
        Assert.Equal(inside, InstructionTemplate.BareQuestion(inside));
    }

    [Theory]
    [InlineData("mmpr")]
    [InlineData("mlnet")]
    public void APromptThatCarriesATemplateIsNeverWrappedTwice(string name)
    {
        var template = InstructionTemplate.FromName(name);
        foreach (var mode in new[] { AnswerMode.ChainOfThought, AnswerMode.Direct })
        {
            var once = template.Apply("What is 3 + 4?", mode);
            Assert.Equal(once, template.Apply(once, mode));
            Assert.True(template.Wraps(once));
            // A prompt built with the other template (either mode) is re-asked with this one's, not instructed twice.
            foreach (var other in InstructionTemplate.Known)
            {
                Assert.Equal(once, template.Apply(other.Apply("What is 3 + 4?", AnswerMode.ChainOfThought), mode));
                if (!(other == InstructionTemplate.Mmpr && mode == AnswerMode.Direct))
                    Assert.Equal(once, template.Apply(other.Apply("What is 3 + 4?", AnswerMode.Direct), mode));
            }
        }
        // MMPR's direct prompt is the question and a known short-answer instruction: asked for a direct answer with any
        // template it already asks for one, so it is kept as it is.
        var mmprDirect = "What is 3 + 4?\nAnswer the question using a single word or phrase.";
        Assert.Equal(mmprDirect, template.Apply(mmprDirect, AnswerMode.Direct));
    }

    [Fact]
    public void MmprMovesTheQuestionsOneImageBeforeItsInstructionAndKeepsItThereWhenAskedAgain()
    {
        // MMPR: with one <image>, it is removed from the question ("<image>\n" first, else "<image>", leaving its spaces)
        // and "<image>\n" put in front of the prompt.
        var prompt = InstructionTemplate.Mmpr.Apply("<image>\nHow many circles?", AnswerMode.ChainOfThought);
        Assert.Equal("<image>\n" + MmprCotHead + "How many circles?", prompt);
        Assert.Equal("<image>\n" + MmprCotHead + "Look at  How many circles?", InstructionTemplate.Mmpr.Apply("Look at <image> How many circles?", AnswerMode.ChainOfThought));
        Assert.Equal(prompt, InstructionTemplate.Mmpr.Apply(prompt, AnswerMode.ChainOfThought));
        Assert.Equal("<image>\nHow many circles?" + OurCot, InstructionTemplate.MlNet.Apply(prompt, AnswerMode.ChainOfThought));
        // A template with nothing before the question leaves the placeholder where it is (this package's prompts so far).
        Assert.Equal("Look at <image> please" + OurCot, InstructionTemplate.MlNet.Apply("Look at <image> please", AnswerMode.ChainOfThought));
        // Two images: their places are the question's business.
        Assert.Equal(MmprCotHead + "<image> or <image>?", InstructionTemplate.Mmpr.Apply("<image> or <image>?", AnswerMode.ChainOfThought));
    }

    [Fact]
    public void DetectNamesTheTemplateMostPromptsCarry()
    {
        string[] questions = ["What is 1 + 2?", "How many squares?", "Which bar is taller?"];
        Assert.Same(InstructionTemplate.MlNet, InstructionTemplate.Detect(questions.Select(q => InstructionTemplate.MlNet.Apply(q, AnswerMode.ChainOfThought))
            .Append(InstructionTemplate.Mmpr.Apply("odd one", AnswerMode.ChainOfThought))));
        Assert.Same(InstructionTemplate.Mmpr, InstructionTemplate.Detect(questions.Select(q => InstructionTemplate.Mmpr.Apply(q, AnswerMode.ChainOfThought))));
        Assert.Same(InstructionTemplate.MlNet, InstructionTemplate.Detect(questions.Select(q => InstructionTemplate.MlNet.Apply(q, AnswerMode.Direct))));
        Assert.Null(InstructionTemplate.Detect(questions));
        Assert.Null(InstructionTemplate.Detect([]));
    }

    [Fact]
    public void NamesAndBadTemplatesAreReportedClearly()
    {
        Assert.Same(InstructionTemplate.Mmpr, InstructionTemplate.FromName(" MMPR "));
        var unknown = Assert.Throws<ArgumentException>(() => InstructionTemplate.FromName("llava"));
        Assert.Contains("'llava'", unknown.Message);
        Assert.Contains("mmpr, mlnet", unknown.Message);
        var noSlot = Assert.Throws<ArgumentException>(() => new InstructionTemplate("mine", "Think first.", "{question}"));
        Assert.Contains("chainOfThought template of instruction template 'mine' must hold {question} exactly once", noSlot.Message);
        Assert.Throws<ArgumentException>(() => new InstructionTemplate("mine", "{question}", "{question} {question}"));
        var custom = new InstructionTemplate("mine", "Think: {question}", "{question} Short answer.");
        Assert.Equal("Think: 2 + 2?", custom.Apply("2 + 2?", AnswerMode.ChainOfThought));
        Assert.Equal("Think: 2 + 2?", custom.Apply("Think: 2 + 2?", AnswerMode.ChainOfThought));
        Assert.Equal(custom, InstructionTemplate.FromJson(custom.ToJson()));
    }
}
