using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.AI;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Serving;
using SentenceVae.Tests.Modules;
using SentenceVae.Tests.Serving;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Inference;

/// <summary>Repetition controls: each with its library's semantics, per row, and through every entry point.</summary>
[Collection(ServerCollection.Name)]
public class RepetitionControlTests(ServerFixture server)
{
    private static float[] Penalized(GenerationOptions options, float[] logits, int[] prompt, int[] written)
    {
        using var sampling = new RowSampling(options, CPU);
        sampling.Start(prompt);
        foreach (var id in written) sampling.Accept(id);
        using var row = tensor(logits).unsqueeze(0);
        sampling.Penalize(row);
        return row.squeeze(0).data<float>().ToArray();
    }

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfTokensInTheText()
    {
        // As Hugging Face's RepetitionPenaltyLogitsProcessor: prompt and output both count, once each.
        var result = Penalized(new GenerationOptions { RepetitionPenalty = 2 }, [4f, -4f, 4f, -4f, 1f], prompt: [0, 0], written: [1]);
        Assert.Equal([2f, -8f, 4f, -4f, 1f], result);
    }

    [Fact]
    public void FrequencyAndPresencePenaltiesCountOnlyWhatTheRowWrote()
    {
        // As OpenAI documents: logit − count·frequency − [count > 0]·presence, over sampled tokens only.
        var result = Penalized(new GenerationOptions { FrequencyPenalty = 0.5, PresencePenalty = 1 }, [0f, 0f, 0f, 0f], prompt: [1], written: [2, 2, 3]);
        Assert.Equal([0f, 0f, -2f, -1.5f], result);
    }

    [Fact]
    public void NoRepeatNgramBansTheTokenThatWouldCompleteAnNgramAlreadyInTheText()
    {
        var result = Penalized(new GenerationOptions { NoRepeatNgramSize = 3 }, [1f, 1f, 1f, 1f, 1f, 1f, 1f, 1f], prompt: [5, 6, 7], written: [5, 6]);
        Assert.Equal(float.NegativeInfinity, result[7]);                                  // 5 6 7 was seen
        Assert.Equal(7, result.Count(v => v == 1f));
    }

    [Fact]
    public void ARetractedPieceNoLongerCounts()
    {
        var options = new GenerationOptions { FrequencyPenalty = 1, RepetitionPenalty = 2 };
        using var sampling = new RowSampling(options, CPU);
        sampling.Start([0]);
        sampling.Accept(1);
        sampling.Accept(2);
        sampling.Retract([1, 2]);
        using var row = tensor(new[] { 2f, 2f, 2f }).unsqueeze(0);
        sampling.Penalize(row);
        Assert.Equal([1f, 2f, 2f], row.squeeze(0).data<float>().ToArray());              // only the prompt's token is left
    }

    [Fact]
    public void ASentenceLevelRowRefusesAPieceItWroteAmongItsLastN()
    {
        using var scope = NewDisposeScope();
        using var model = SentenceLlmTests.Tiny(29, SentenceLlmTests.RichConfig());    // greedy, it writes one piece over and over
        var generator = new SentenceLlmGenerator(model, new SentenceLlmTests.IdsTokenizer());
        var prompt = SentenceLlmTests.RandomPieces(new Random(4), 3);
        List<string> Pieces(int noRepeat) => SentenceLlmTests.Pieces(generator, [prompt], new SentenceGenerationOptions
        {
            MaxPieces = 8, IgnoreStop = true, Tokens = new GenerationOptions { MaxNewTokens = 6, NoRepeatPieces = noRepeat },
        }).Select(p => p.Ids).ToList();
        int Repeats(List<string> pieces, int window) => pieces.Where((p, i) => pieces.Skip(Math.Max(0, i - window)).Take(i - Math.Max(0, i - window)).Contains(p)).Count();
        var plain = Pieces(0);
        var refusing = Pieces(3);
        Assert.True(Repeats(plain, 3) >= 4, $"without the rule the tiny model repeats itself ({string.Join(" | ", plain)})");
        Assert.Equal(0, Repeats(refusing, 3));
        Assert.Equal(8, refusing.Count);
    }

    [Fact]
    public async Task TheServerAppliesEachControlAndRefusesOutOfRangeValues()
    {
        var prompt = "It was the best of times, it was the worst of times,";
        foreach (var model in new[] { ServerFixture.Lm, ServerFixture.Sllm })
        {
            var plain = await server.Service.CompleteAsync(new CompletionRequest { Model = model, Prompt = prompt, MaxTokens = 48 });
            var penalized = await server.Service.CompleteAsync(new CompletionRequest { Model = model, Prompt = prompt, MaxTokens = 48, Sampling = new() { RepetitionPenalty = 1.3, FrequencyPenalty = 1 } });
            Assert.NotEqual(plain.Text, penalized.Text);
        }
        using var response = await server.Http.PostAsJsonAsync("v1/completions", new { model = ServerFixture.Lm, prompt, frequency_penalty = 2.5 });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("\"param\":\"frequency_penalty\"", await response.Content.ReadAsStringAsync());
        using var fine = await server.Http.PostAsJsonAsync("v1/completions", new { model = ServerFixture.Sllm, prompt, max_tokens = 8, presence_penalty = 1.5, repetition_penalty = 1.2, no_repeat_ngram_size = 3, no_repeat_pieces = 4 });
        Assert.Equal(HttpStatusCode.OK, fine.StatusCode);
    }

    [Fact]
    public async Task ChatOptionsCarryThePenalties()
    {
        IChatClient chat = new SentenceVaeChatClient(server.Service, ServerFixture.Lm);
        var messages = new[] { new ChatMessage(ChatRole.User, "Tell me about the sea.") };
        var plain = await chat.GetResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = 40 });
        var penalized = await chat.GetResponseAsync(messages, new ChatOptions
        {
            Temperature = 0, MaxOutputTokens = 40, FrequencyPenalty = 1.5f,
            AdditionalProperties = new AdditionalPropertiesDictionary { ["repetition_penalty"] = 1.3 },
        });
        Assert.NotEqual(plain.Text, penalized.Text);
    }

    [Fact]
    public void RepetitionStatsCountRepeatsWithinEachText()
    {
        var stats = RepetitionStats.Of(["a b c d a b c d. a b c d.", "x y. z w. x y."], new SentenceSplitter(new SplitterOptions()));
        // Text 1: 12 words, 9 four-grams of which 5 were seen before; 11 bigrams, 4 distinct (a b, b c, c d, d a); its two pieces differ.
        // Text 2: 6 words, 3 four-grams, none seen before; 5 bigrams, 4 distinct (x y twice); pieces "x y.", "z w.", "x y.": 1 of 3 repeats.
        Assert.Equal((5.0 / 9 + 0) / 2, stats.Repeated4Grams, 9);
        Assert.Equal((0 + 1.0 / 3) / 2, stats.RepeatedPieces, 9);
        Assert.Equal((4.0 / 11 + 4.0 / 5) / 2, stats.Distinct2, 9);
        Assert.Equal((2, 18), (stats.Texts, stats.Words));
    }
}
