using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Tests.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Generation;

public class GenerationTests
{
    [Theory]
    [InlineData("qwen2", "cases.safetensors")]
    [InlineData("internlm2", "cases-t24.safetensors")] // 24 tokens: dynamic NTK stays off, as it must for a cache
    public void CachedDecodingGivesTheSameLogitsAsAFullForward(string backbone, string cases)
    {
        using var f = new TinyModelFixture(backbone, cases);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var model = f.Policy;
        var ids = f.Case("input_ids")[..1];
        long t = f.Case("attention_mask")[0].sum().item<long>();
        ids = ids[.., ..(int)t];
        var pixels = f.Case("pixel_values");
        var tilesOfRow0 = backbone == "qwen2" ? pixels[..2] : pixels[..1];
        var embeds = model.InputEmbeddings(ids, model.VisionTokens(tilesOfRow0, null, torch.CPU));
        var full = model.LanguageModel.Forward(embeds, null);

        using var cache = model.LanguageModel.CreateCache(1, t, torch.CPU);
        long prefill = t - 6;
        var parts = new List<Tensor> { model.LanguageModel.OutputLogits(model.LanguageModel.HiddenStates(embeds[.., ..(int)prefill], torch.ones(1, prefill, dtype: ScalarType.Int64), null, cache)) };
        for (long p = prefill; p < t; p++)
        {
            var mask = torch.ones(1, p + 1, dtype: ScalarType.Int64);
            parts.Add(model.LanguageModel.OutputLogits(model.LanguageModel.HiddenStates(embeds[.., (int)p..(int)(p + 1)], mask, null, cache)));
        }
        var cached = torch.cat(parts, 1);
        Assert.Equal(t, cache.Length);
        TinyModelFixture.AssertClose(full, cached, 1e-5, "cached vs uncached logits");
    }

    [Fact]
    public void BatchedGreedyGenerationEqualsOneByOne()
    {
        using var f = new TinyModelFixture("qwen2");
        var (requests, generator) = Requests(f);
        var options = new GenerationOptions { MaxNewTokens = 8 };
        var batched = generator.Generate(requests, options);
        for (int r = 0; r < requests.Count; r++)
        {
            var alone = generator.Generate([requests[r]], options);
            Assert.Equal(alone[0].TokenIds, batched[r].TokenIds);
        }
        Assert.All(batched, b => Assert.Equal(8, b.TokenIds.Count));
        Assert.All(batched, b => Assert.Equal(StopReason.Length, b.Reason));
    }

    [Fact]
    public void SamplingIsReproducibleBySeedAndTopKOneIsGreedy()
    {
        using var f = new TinyModelFixture("qwen2");
        var (requests, generator) = Requests(f);
        var sampled = new GenerationOptions { MaxNewTokens = 12, Temperature = 1.5, TopP = 0.95, Seed = 7 };
        var a = generator.Generate(requests, sampled);
        var b = generator.Generate(requests, sampled);
        Assert.Equal(a.Select(r => r.TokenIds), b.Select(r => r.TokenIds));
        var c = generator.Generate(requests, sampled with { Seed = 8 });
        Assert.NotEqual(a.Select(r => string.Join(",", r.TokenIds)), c.Select(r => string.Join(",", r.TokenIds)));

        var greedy = generator.Generate(requests, new GenerationOptions { MaxNewTokens = 12 });
        var topOne = generator.Generate(requests, sampled with { TopK = 1 });
        Assert.Equal(greedy.Select(r => r.TokenIds), topOne.Select(r => r.TokenIds));
    }

    [Fact]
    public void StopTokensStreamingAndCancellation()
    {
        using var f = new TinyModelFixture("qwen2");
        var (requests, generator) = Requests(f);
        var greedy = generator.Generate(requests[..1], new GenerationOptions { MaxNewTokens = 6 });
        int third = greedy[0].TokenIds[2];
        var stopped = generator.Generate(requests[..1], new GenerationOptions { MaxNewTokens = 6, StopTokenIds = [third] });
        Assert.Equal(StopReason.StopToken, stopped[0].Reason);
        Assert.Equal(greedy[0].TokenIds.TakeWhile(id => id != third), stopped[0].TokenIds);

        var streamed = new List<GeneratedToken>();
        generator.Generate(requests, new GenerationOptions { MaxNewTokens = 5 }, streamed.Add);
        Assert.Equal(10, streamed.Count);
        Assert.Equal(greedy[0].TokenIds.Take(5), streamed.Where(s => s.Row == 0).Select(s => s.TokenId));

        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => generator.Generate(requests, new GenerationOptions(), cancellationToken: cts.Token));
        Assert.Throws<ArgumentException>(() => generator.Generate(requests, new GenerationOptions { TopP = 0 }));
    }

    [Fact]
    public void ImagePlaceholderTokensAreNeverGenerated()
    {
        using var f = new TinyModelFixture("qwen2");
        var (requests, generator) = Requests(f);
        // Near-uniform sampling over a 96-token vocabulary: without suppression id 93 would almost surely appear.
        var results = generator.Generate(requests, new GenerationOptions { MaxNewTokens = 256, Temperature = 20, Seed = 1 });
        Assert.All(results, r => Assert.DoesNotContain(93, r.TokenIds));
        Assert.All(results, r => Assert.Equal(256, r.TokenIds.Count));
    }

    [Fact]
    public void KSamplesOfOnePromptAreTheTokensOfKCopiesOfIt()
    {
        using var f = new TinyModelFixture("qwen2");
        var (requests, generator) = Requests(f);
        var sampled = new GenerationOptions { MaxNewTokens = 10, Temperature = 1.5, TopK = 40, Seed = 11 };
        var copies = generator.Generate([requests[0], requests[0], requests[0], requests[1], requests[1]], sampled);
        var streamed = new List<GeneratedToken>();
        var shared = generator.Generate([requests[0] with { Samples = 3 }, requests[1] with { Samples = 2 }], sampled, streamed.Add);
        Assert.Equal(copies.Select(r => r.TokenIds), shared.Select(r => r.TokenIds));
        // The draws differ between the samples of a prompt (else the test would not tell rows apart).
        Assert.NotEqual(shared[0].TokenIds, shared[1].TokenIds);
        Assert.Equal(5 * 10, streamed.Count);
        Assert.Equal(shared[4].TokenIds, streamed.Where(t => t.Row == 4).Select(t => t.TokenId));
    }

    [Fact]
    public void ARequestWithItsOwnSeedDrawsWhatItDrawsAlone()
    {
        using var f = new TinyModelFixture("qwen2");
        var (requests, generator) = Requests(f);
        var sampled = new GenerationOptions { MaxNewTokens = 10, Temperature = 1.5, Seed = 0 };
        var alone3 = generator.Generate([requests[0] with { Samples = 2 }], sampled with { Seed = 3 });
        var alone4 = generator.Generate([requests[0] with { Samples = 2 }], sampled with { Seed = 4 });
        var batched = generator.Generate([requests[0] with { Samples = 2, Seed = 3 }, requests[0] with { Samples = 2, Seed = 4 }], sampled);
        Assert.Equal(alone3.Concat(alone4).Select(r => r.TokenIds), batched.Select(r => r.TokenIds));
        Assert.NotEqual(alone3[0].TokenIds, alone4[0].TokenIds);

        var error = Assert.Throws<ArgumentException>(() => generator.Generate([requests[0], requests[1] with { Samples = 0 }], sampled));
        Assert.Contains("Request 1 asks for 0 samples", error.Message);
    }

    /// <summary>The fixture's two prompts (everything before the response) with their tiles, and a generator.</summary>
    private static (List<GenerationRequest>, VisionLanguageGenerator) Requests(TinyModelFixture f)
    {
        var ids = f.Case("input_ids");
        var labels = f.Case("labels");
        var pixels = f.Case("pixel_values");
        var requests = new List<GenerationRequest>();
        Tensor[] tiles = [pixels[..2], pixels[2..]];
        for (int r = 0; r < 2; r++)
        {
            var rowLabels = labels[r].data<long>().ToArray();
            int responseStart = Array.FindIndex(rowLabels, l => l != -100);
            var prompt = ids[r].data<long>().Take(responseStart).Select(x => (int)x).ToList();
            requests.Add(new GenerationRequest(prompt, tiles[r]));
        }
        // No stop ids: the random tiny model would stop at random; these tests are about the mechanics.
        return (requests, new VisionLanguageGenerator(f.Policy, null, [], padId: 88));
    }
}
