using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Text.Prompts;
using Microsoft.ML.Preference.Text.Templates;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Text;

/// <summary>
/// The prompt builder against the token sequences of the tiny-internvl fixtures (Hermes-2 on Qwen2; internlm2-chat
/// with a leading &lt;s&gt;). Only the word spans (system, question, response) and the tile counts are read out of
/// the fixture rows; the builder makes every structural id, the image spans, the labels and the padding, which must
/// equal the fixture element for element.
/// </summary>
public class PromptBuilderFixtureTests
{
    private sealed record Row(string System, string Question, string Response, int Tiles);

    private sealed class Fixture
    {
        public Fixture(string name)
        {
            Name = name;
            Config = InternVLConfig.Load(Path.Combine(AppContext.BaseDirectory, "TestData", name));
            Vocabulary = PromptTestVocabulary.ForFixture(name);
            Bos = Vocabulary.Special.TryGetValue("<s>", out int bos) ? bos : null;
            Pad = Bos is null ? Vocabulary.Id("<|endoftext|>") : Vocabulary.Id("</s>");
            Builder = new PromptBuilder(ChatTemplates.Get(Config.Template), Vocabulary.Encoder(Pad, Bos), Config.NumImageToken);
            Cases = FixtureSafetensors.Load(name, "cases.safetensors");
        }

        public string Name { get; }
        public InternVLConfig Config { get; }
        public PromptTestVocabulary Vocabulary { get; }
        public int? Bos { get; }
        public int Pad { get; }
        public PromptBuilder Builder { get; }
        public FixtureSafetensors Cases { get; }

        public long[][] Rows(string tensor)
        {
            using Tensor t = Cases[tensor];
            long[] flat = t.data<long>().ToArray();
            int rows = (int)t.shape[0], length = (int)t.shape[1];
            return [.. Enumerable.Range(0, rows).Select(r => flat.AsSpan(r * length, length).ToArray())];
        }

        public long[] Flat(string tensor)
        {
            using Tensor t = Cases[tensor];
            return t.data<long>().ToArray();
        }

        // Walks a fixture row by its special ids and returns the word spans between them.
        public Row Parse(long[] ids)
        {
            int i = 0;
            void Expect(params int[] expected)
            {
                foreach (int e in expected)
                {
                    Assert.True(ids[i] == e, $"{Name}: id {ids[i]} at {i}, expected {e}");
                    i++;
                }
            }
            string WordsUntil(int stop)
            {
                int start = i;
                while (ids[i] != stop)
                {
                    Assert.InRange(ids[i], 8, 87);
                    i++;
                }
                return PromptTestVocabulary.Words(ids[start..i]);
            }
            int imStart = Vocabulary.Id("<|im_start|>"), imEnd = Vocabulary.Id("<|im_end|>"), context = Vocabulary.Id("<IMG_CONTEXT>");
            if (Bos is int b)
                Expect(b);
            Expect(imStart, PromptTestVocabulary.SystemWord, PromptTestVocabulary.NewLine);
            string system = WordsUntil(imEnd);
            Expect(imEnd, imStart, PromptTestVocabulary.UserWord, PromptTestVocabulary.NewLine, Vocabulary.Id("<img>"));
            int contextIds = 0;
            while (ids[i] == context)
            {
                contextIds++;
                i++;
            }
            Expect(Vocabulary.Id("</img>"), PromptTestVocabulary.NewLine);
            string question = WordsUntil(imEnd);
            Expect(imEnd, imStart, PromptTestVocabulary.AssistantWord, PromptTestVocabulary.NewLine);
            string response = WordsUntil(imEnd);
            Expect(imEnd);
            Assert.Equal(0, contextIds % Config.NumImageToken);
            return new Row(system, question, response, contextIds / Config.NumImageToken);
        }
    }

    public static TheoryData<string> FixtureNames() => new() { "tiny-internvl", "tiny-internvl-internlm2" };

    [Fact]
    public void FixturesUseTheExpectedTemplatesAndImageTokenCount()
    {
        Assert.Equal("Hermes-2", new Fixture("tiny-internvl").Config.Template);
        Assert.Equal("internlm2-chat", new Fixture("tiny-internvl-internlm2").Config.Template);
        Assert.Equal(4, new Fixture("tiny-internvl").Config.NumImageToken);
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Case1RowsAreRebuiltIdForId(string name)
    {
        var f = new Fixture(name);
        var expectedIds = f.Rows("input_ids");
        var rows = expectedIds.Select(f.Parse).ToArray();
        var built = rows.Select((r, i) => f.Builder.BuildTraining([ChatMessage.System(r.System), ChatMessage.User(r.Question)], r.Response, [r.Tiles], i)).ToArray();
        var batch = f.Builder.Collate(built);

        Assert.Equal(expectedIds.Length, batch.Rows);
        Assert.Equal(expectedIds[0].Length, batch.Length);
        Assert.Equal(f.Flat("input_ids"), batch.InputIds);
        Assert.Equal(f.Flat("labels"), batch.Labels);
        Assert.Equal(f.Flat("attention_mask"), batch.AttentionMask);
        Assert.Equal([2, 1], rows.Select(r => r.Tiles));                      // tiles 0, 1 -> sample 0; tile 2 -> sample 1
        Assert.Equal([8, 4], built.Select(s => s.ImageContextTokens));
        Assert.All(built, s => Assert.True(s.EndsTurn));
        Assert.All(built, s => Assert.False(s.Truncation.IsTruncated));
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void PreferenceBatchIsRebuiltIdForId(string name)
    {
        var f = new Fixture(name);
        var expected = f.Rows("pref_input_ids");
        int pairs = expected.Length / 2;
        var pairList = new List<PreferencePair>();
        for (int p = 0; p < pairs; p++)
        {
            Row chosen = f.Parse(expected[p]), rejected = f.Parse(expected[pairs + p]);
            Assert.Equal(chosen with { Response = rejected.Response }, rejected);   // the fixture's pairs share their prompt
            pairList.Add(f.Builder.BuildPair([ChatMessage.System(chosen.System), ChatMessage.User(chosen.Question)],
                chosen.Response, rejected.Response, [chosen.Tiles], p));
        }
        var batch = f.Builder.Collate(pairList);

        Assert.Equal(2 * pairs, batch.Rows);
        Assert.Equal(expected[0].Length, batch.Length);
        Assert.Equal(f.Flat("pref_input_ids"), batch.InputIds);
        Assert.Equal(f.Flat("pref_labels"), batch.Labels);
        Assert.Equal(f.Flat("pref_attention_mask"), batch.AttentionMask);
        foreach (var pair in pairList)
            Assert.Equal(pair.Chosen.InputIds.Take(pair.PromptLength), pair.Rejected.InputIds.Take(pair.PromptLength));
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void BatchTensorsHaveTheFixtureShapeAndValues(string name)
    {
        var f = new Fixture(name);
        var expected = f.Rows("input_ids");
        var rows = expected.Select(f.Parse)
            .Select((r, i) => f.Builder.BuildTraining([ChatMessage.System(r.System), ChatMessage.User(r.Question)], r.Response, [r.Tiles], i))
            .ToArray();
        var batch = f.Builder.Collate(rows);
        using Tensor ids = batch.InputIdsTensor(), labels = batch.LabelsTensor(), mask = batch.AttentionMaskTensor();
        using Tensor expectedIds = f.Cases["input_ids"], expectedLabels = f.Cases["labels"], expectedMask = f.Cases["attention_mask"];
        Assert.Equal(expectedIds.shape, ids.shape);
        Assert.Equal(ScalarType.Int64, ids.dtype);
        Assert.True(ids.eq(expectedIds).all().item<bool>());
        Assert.True(labels.eq(expectedLabels).all().item<bool>());
        Assert.True(mask.eq(expectedMask).all().item<bool>());
    }

    [Fact]
    public void InferencePromptIsTheTrainingRowUpToTheGenerationPrompt()
    {
        var f = new Fixture("tiny-internvl-internlm2");
        var row = f.Parse(f.Rows("input_ids")[0]);
        var prompt = f.Builder.BuildPrompt([ChatMessage.System(row.System), ChatMessage.User(row.Question)], [row.Tiles]);
        var training = f.Builder.BuildTraining([ChatMessage.System(row.System), ChatMessage.User(row.Question)], row.Response, [row.Tiles]);
        Assert.Equal(training.InputIds.Take(training.PromptLength), prompt.InputIds);
        Assert.Equal([f.Vocabulary.Id("<|im_start|>"), PromptTestVocabulary.AssistantWord, PromptTestVocabulary.NewLine], prompt.InputIds.TakeLast(3));
        Assert.Equal(1, prompt.InputIds[0]);                        // <s>
        Assert.All(prompt.Labels, l => Assert.Equal(PromptBuilder.IgnoreIndex, l));
        Assert.Equal(0, prompt.LabelCount);
        Assert.False(prompt.EndsTurn);
    }
}
