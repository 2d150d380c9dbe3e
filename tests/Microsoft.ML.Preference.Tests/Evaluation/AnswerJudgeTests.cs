using Microsoft.ML.Preference.Evaluation;
using Microsoft.ML.Preference.Generation;

namespace Microsoft.ML.Preference.Tests.Evaluation;

public class AnswerJudgeTests
{
    /// <summary>Model output → AnswerExtractor.Extract → AnswerJudge, as the evaluation runs it.</summary>
    [Theory]
    // multiple choice
    [InlineData("The triangle has three sides, so option B fits.\nFinal answer: B", "B", true)]
    [InlineData("Counting the circles gives 4.\nFinal answer: (B)", "B", true)]
    [InlineData("Counting the circles gives 4.\nFinal answer: B", "(B)", true)]
    [InlineData("Final answer: B.", "B", true)]
    [InlineData("Final answer: B)", "B", true)]
    [InlineData("Final answer: Option B", "B", true)]
    [InlineData("Final answer: option (b)", "(B)", true)]
    [InlineData("Final answer: B: 4 circles", "B", true)]
    [InlineData("Final answer: (B) 4 circles", "B", true)]
    [InlineData("Final answer: The answer is (C)", "C", true)]
    [InlineData("Final answer: **C**", "C", true)]
    [InlineData("Final answer: \\boxed{C}", "C", true)]
    [InlineData("Final answer: A", "B", false)]
    [InlineData("Final answer: A or B", "B", false)]
    [InlineData("Final answer: (A) or (B)", "A", false)]
    [InlineData("Final answer: A, B", "A", false)]
    [InlineData("Final answer: A) or B)", "A", false)]
    [InlineData("Final answer: A: a red cube", "A", true)]
    [InlineData("Option A looks tempting, but (A) ignores the shadow; (C) is wrong too.\nFinal answer: D", "D", true)]
    [InlineData("I first thought the answer was B.\nFinal answer: A", "B", false)]
    // two markers: the last counts
    [InlineData("Final answer: A\nWait, recount: there are 5.\nFinal answer: C", "C", true)]
    [InlineData("Final answer: A\nWait, recount: there are 5.\nFinal answer: C", "A", false)]
    // numbers
    [InlineData("3 rows of 4 make 12.\nFinal answer: 12", "12", true)]
    [InlineData("Final answer: 12.0", "12", true)]
    [InlineData("Final answer: 12", "12.0", true)]
    [InlineData("Final answer: 12.5", "12", false)]
    [InlineData("Final answer: 1,200", "1200", true)]
    [InlineData("Final answer: $1,200", "1200", true)]
    [InlineData("Final answer: 12 cm", "12", true)]
    [InlineData("Final answer: 12cm", "12", true)]
    [InlineData("Final answer: 12 apples", "12", true)]
    [InlineData("Final answer: 45%", "45", true)]
    [InlineData("Final answer: 3/4", "0.75", true)]
    [InlineData("Final answer: \\frac{3}{4}", "0.75", true)]
    [InlineData("Final answer: $\\frac{3}{4}$", "3/4", true)]
    [InlineData("Final answer: \\boxed{12}", "12", true)]
    [InlineData("Final answer: $12$", "12", true)]
    [InlineData("The angle is a right angle minus 30.\nFinal answer: 60^\\circ", "60", true)]
    [InlineData("Final answer: $60^{\\circ}$", "60", true)]
    [InlineData("Final answer: 0.3334", "0.3333", true)]  // within 1e-3 relative
    [InlineData("Final answer: 0.34", "0.3333", false)]
    [InlineData("Final answer: 0", "0.0", true)]
    [InlineData("Final answer: -4", "4", false)]
    [InlineData("Final answer: x = 7", "7", true)]
    [InlineData("Final answer: 12 or 13", "12", false)]
    [InlineData("Final answer: 7 (B)", "7", false)]
    // units with powers: superscripts, carets, braces (a bare superscript is an exponent, never a unit)
    [InlineData("Final answer: 42.5 cm²", "42.5", true)]
    [InlineData("Final answer: 42.5 cm²", "42.5 cm²", true)]
    [InlineData("Final answer: 42.5", "42.5 cm²", true)]
    [InlineData("Final answer: 8 m³", "8", true)]
    [InlineData("Final answer: 9.8 m/s²", "9.8", true)]
    [InlineData("Final answer: 16 cm^2", "16", true)]
    [InlineData("Final answer: $16 \\text{cm}^{2}$", "16", true)]
    [InlineData("Final answer: 42.5 cm²", "42", false)]
    [InlineData("Final answer: 5²", "5", false)]
    [InlineData("Final answer: 5²", "25", false)]
    // a number stated in a sentence: exactly one number, no hedge, no second answer, no option
    [InlineData("Final answer: The answer is 12.", "12", true)]
    [InlineData("Final answer: There are 12 circles.", "12", true)]
    [InlineData("Final answer: So the area is 42.5 cm².", "42.5", true)]
    [InlineData("Final answer: The total is $1,200.", "1200", true)]
    [InlineData("Final answer: The answer is -4.", "-4", true)]
    [InlineData("Final answer: The answer is 12.", "13", false)]
    [InlineData("Final answer: The answer is -4.", "4", false)]
    [InlineData("Final answer: The answer is 12 or 13.", "12", false)]
    [InlineData("Final answer: It is either 12 or thirteen.", "12", false)]
    [InlineData("Final answer: 12 or thirteen", "12", false)]
    [InlineData("Final answer: The answer is not 12.", "12", false)]
    [InlineData("Final answer: More than 12 circles.", "12", false)]
    [InlineData("Final answer: There are about 12 circles.", "12", false)]
    [InlineData("Final answer: The 12th circle is red.", "12", false)]
    [InlineData("Final answer: 3 × 4 = 12", "12", false)]
    [InlineData("Final answer: The answer is 7 (B).", "7", false)]
    [InlineData("Final answer: Option 7 is right.", "7", false)]
    // number words, as MMPR's VQA normaliser maps them
    [InlineData("Final answer: three", "3", true)]
    [InlineData("Final answer: Three.", "3", true)]
    [InlineData("Final answer: three", "4", false)]
    // yes / no
    [InlineData("The red ball is left of the cube.\nFinal answer: Yes.", "Yes", true)]
    [InlineData("Final answer: yes, it is", "yes", true)]
    [InlineData("Final answer: No", "no", true)]
    [InlineData("Final answer: No, it is not", "Yes", false)]
    [InlineData("Final answer: Not sure", "No", false)]
    // text
    [InlineData("Final answer: Red.", "red", true)]
    [InlineData("Final answer: a  red   cube", "A red cube", true)]
    [InlineData("Final answer: blue", "red", false)]
    // the answer on two lines: only the first line after the marker counts
    [InlineData("Final answer: 12\nbecause 3 × 4 = 12", "12", true)]
    [InlineData("Final answer: A\n(B) is also possible", "A", true)]
    // Markdown around the marker or the answer
    [InlineData("**Final answer:** B", "B", true)]
    [InlineData("Final Answer: The final answer is $\\boxed{12}$", "12", true)]
    // case of the marker
    [InlineData("final answer: 12", "12", true)]
    [InlineData("FINAL ANSWER: (D)", "D", true)]
    public void ModelOutputIsJudgedEndToEnd(string response, string groundTruth, bool expected)
    {
        var extracted = AnswerExtractor.Extract(response);
        Assert.True(extracted.Succeeded, extracted.FormatFailure);
        var judgement = AnswerJudge.Judge(extracted.Answer, groundTruth);
        Assert.True(expected == judgement.IsCorrect,
            $"{judgement.Kind}: '{judgement.NormalizedPredicted}' vs '{judgement.NormalizedGroundTruth}' (answer '{extracted.Answer}')");
    }

    [Theory]
    [InlineData("Final answer: A\nFinal answer: B\nFinal answer: C", "3 \"Final answer:\" markers")]   // three markers
    [InlineData("The answer is 12.", "no \"Final answer:\" line")]                                      // missing marker
    [InlineData("Reasoning...\nFinal answer:", "nothing after")]                                          // empty answer
    [InlineData("Reasoning...\nFinal answer:   \n12", "nothing after")]                                   // answer only on the next line
    public void FormatFailuresGiveNoAnswerAndAreNeverCorrect(string response, string reason)
    {
        var extracted = AnswerExtractor.Extract(response);
        Assert.False(extracted.Succeeded);
        Assert.Contains(reason, extracted.FormatFailure);
        var judgement = AnswerJudge.Judge(extracted.Answer, "12");
        Assert.False(judgement.IsCorrect);
        Assert.Equal(AnswerKind.Empty, judgement.Kind);
    }

    [Fact]
    public void DirectModeTakesTheFirstLine()
    {
        var extracted = AnswerExtractor.Extract("B\nBecause the shadow points left.", AnswerMode.Direct);
        Assert.True(AnswerJudge.IsCorrect(extracted.Answer, "(B)"));
    }

    [Fact]
    public void JudgementShowsTheNormalisedForms()
    {
        var j = AnswerJudge.Judge("$1,200.0 dollars", "1200");
        Assert.True(j.IsCorrect);
        Assert.Equal(AnswerKind.Number, j.Kind);
        Assert.Equal("1200", j.NormalizedPredicted);
        Assert.Equal("1200", j.NormalizedGroundTruth);

        var c = AnswerJudge.Judge("Option (c).", "C");
        Assert.Equal((AnswerKind.Choice, "C", "C"), (c.Kind, c.NormalizedPredicted, c.NormalizedGroundTruth));

        var y = AnswerJudge.Judge("Yes, it is.", "yes");
        Assert.Equal((AnswerKind.YesNo, "yes"), (y.Kind, y.NormalizedPredicted));

        Assert.Equal(AnswerKind.Empty, AnswerJudge.Judge("  ", "A").Kind);
        Assert.False(AnswerJudge.IsCorrect(null, "A"));
    }

    [Theory]
    [InlineData("1e-12", "0", true)]     // absolute tolerance near zero
    [InlineData("0.001", "0", false)]
    [InlineData("1000.9", "1000", true)] // relative 1e-3
    [InlineData("1002", "1000", false)]
    public void NumbersUseRelativeToleranceAndAbsoluteNearZero(string predicted, string truth, bool expected) =>
        Assert.Equal(expected, AnswerJudge.IsCorrect(predicted, truth));
}
