using Microsoft.ML.Preference.Tests.Text;
using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Text.Templates;
using Microsoft.ML.Preference.Trainers;
using Microsoft.ML.Preference.Trainers.Training;

namespace Microsoft.ML.Preference.Tests.Trainers;

/// <summary>
/// <see cref="RejectedSpan.FirstDivergentStep"/>: the rejected response is scored up to the end of the step (line)
/// where it first departs from the chosen one, on the prompt tests' synthetic vocabulary ("w{id}", "\n" = 3).
/// </summary>
public class FirstDivergentStepTests
{
    private const int Ignore = PromptBuilder.IgnoreIndex, NL = PromptTestVocabulary.NewLine;

    private static readonly PromptBuilder Builder =
        new(ChatTemplates.Hermes2, PromptTestVocabulary.Qwen2Like().Encoder(88), 2) { SystemMessage = "w8" };

    private static int[] ResponseLabels(TokenizedSequence row) => row.Labels.Skip(row.PromptLength).ToArray();

    [Fact]
    public void RejectedLabelsStopAtTheEndOfTheFirstStepThatDiffers()
    {
        var pair = Builder.BuildPair("w20", "w30 w31\nw32 w33\nw34", "w30 w31\nw40 w41\nw42 w43");
        var cut = FirstDivergentStep.Apply(pair, id => id == NL);

        // Shared first step, the wrong second step and its newline are scored; the third step and <|im_end|> are not.
        Assert.Equal([30, 31, NL, 40, 41, NL, Ignore, Ignore, Ignore], ResponseLabels(cut.Rejected));
        Assert.Equal(6, cut.Rejected.LabelCount);
        // Ids, the prompt and the chosen row are untouched.
        Assert.Equal(pair.Rejected.InputIds, cut.Rejected.InputIds);
        Assert.Same(pair.Chosen, cut.Chosen);
        Assert.Equal(pair.PromptLength, cut.PromptLength);
    }

    [Fact]
    public void ARejectedResponseThatDivergesInItsLastStepKeepsEveryLabel()
    {
        var pair = Builder.BuildPair("w20", "w30\nw31 w32", "w30\nw31 w40");
        var cut = FirstDivergentStep.Apply(pair, id => id == NL);
        Assert.Equal(pair.Rejected.Labels, cut.Rejected.Labels);
    }

    [Fact]
    public void DivergenceInTheFirstTokenCutsAfterTheFirstLine()
    {
        var pair = Builder.BuildPair("w20", "w30\nw31", "w40 w41\nw31\nw32");
        var cut = FirstDivergentStep.Apply(pair, id => id == NL);
        Assert.Equal([40, 41, NL, Ignore, Ignore, Ignore, Ignore], ResponseLabels(cut.Rejected));
    }

    [Fact]
    public void TheTrainerDoesNotScoreWhatFollowsTheFirstWrongStep()
    {
        using var toy = new ToyPreferenceData();
        var ml = new MLContext(seed: 1);
        // The same pairs twice, with different text after the rejected response's wrong first step.
        List<ToyRow> Rows(string tail) => toy.Rows(8, seed: 4).Select(r => new ToyRow
        {
            Image = r.Image, Prompt = r.Prompt, Chosen = r.Chosen + "\nSo it is that colour.", Rejected = r.Rejected + "\n" + tail,
        }).ToList();
        // Per step: the loss, and the rejected responses' summed log-probs (what the preference terms read).
        (double Loss, double Rejected)[] Run(RejectedSpan span, string tail)
        {
            var o = MpoTrainerLearningTests.Fast(toy);
            o.MaxSteps = 2;
            o.RejectedSpan = span;
            using var m = ml.Preference.Trainers.Mpo(o).Fit(ml.Data.LoadFromEnumerable(Rows(tail)));
            return m.TrainingHistory.Select(h => (h["loss"], h["logps/rejected"])).ToArray();
        }
        var a = Run(RejectedSpan.FirstDivergentStep, "So it is that colour.");
        var b = Run(RejectedSpan.FirstDivergentStep, "The square is red and blue.");
        Assert.Equal(2, a.Length);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i].Loss, b[i].Loss, 1e-6);
            Assert.Equal(a[i].Rejected, b[i].Rejected, 1e-5);
        }
        // Scored whole, the tails are read: other log-probs, and after the first update another loss.
        var whole = Run(RejectedSpan.WholeResponse, "So it is that colour.");
        var wholeOther = Run(RejectedSpan.WholeResponse, "The square is red and blue.");
        Assert.NotEqual(whole[0].Rejected, wholeOther[0].Rejected, 1e-2);
        Assert.NotEqual(whole[1].Loss, wholeOther[1].Loss, 1e-5);
        Assert.True(whole[0].Rejected < a[0].Rejected, "the whole response has more tokens, so a lower summed log-prob");
    }
}
