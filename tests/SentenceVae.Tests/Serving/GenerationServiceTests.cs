using Microsoft.Extensions.AI;
using SentenceVae.Inference;
using SentenceVae.Serving;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Serving;

[Collection(ServerCollection.Name)]
public class GenerationServiceTests(ServerFixture server)
{
    private GenerationService Service => server.Service;

    private static CompletionRequest Greedy(string model, string prompt, int maxTokens) => new() { Model = model, Prompt = prompt, MaxTokens = maxTokens };

    [Theory]
    [InlineData(ServerFixture.Sllm)]
    [InlineData(ServerFixture.Lm)]
    public async Task RequestsBatchedTogetherGetTheTextEachGetsAlone(string model)
    {
        var prompts = ServerFixture.Prompts(6);
        var alone = new List<CompletionResult>();
        foreach (var p in prompts) alone.Add(await Service.CompleteAsync(Greedy(model, p, 40)));
        // A seeded sampled request too: its own generator gives the same tokens in a batch.
        var sampled = Greedy(model, prompts[0], 30) with { Sampling = new() { Temperature = 0.9, TopP = 0.95, Seed = 7 } };
        var sampledAlone = await Service.CompleteAsync(sampled);
        var together = await Task.WhenAll(prompts.Select(p => Service.CompleteAsync(Greedy(model, p, 40))).Append(Service.CompleteAsync(sampled)));
        Assert.Equal(alone.Select(a => a.Text), together.Take(6).Select(t => t.Text));
        Assert.Equal(alone.Select(a => a.Usage), together.Take(6).Select(t => t.Usage));
        Assert.Equal(sampledAlone.Text, together[6].Text);
        Assert.All(alone, a => Assert.True(a.Usage.CompletionTokens > 0));
    }

    [Theory]
    [InlineData(ServerFixture.Sllm)]
    [InlineData(ServerFixture.Lm)]
    public async Task MaxTokensCountsTextTokensForBothModelKinds(string model)
    {
        var tokenizer = Service.Find(model).Tokenizer;
        foreach (int max in new[] { 1, 7, 23 })
        {
            var result = await Service.CompleteAsync(Greedy(model, "It was a truth universally acknowledged", max) with { Sampling = new() { Temperature = 1, Seed = 3 } });
            Assert.InRange(result.Usage.CompletionTokens, 1, max);
            if (max < 9) Assert.Equal(FinishReason.Length, result.FinishReason);         // shorter than any first piece or sentence here: the budget ends it
            if (result.FinishReason == FinishReason.Length) Assert.Equal(max, result.Usage.CompletionTokens);
            Assert.InRange(tokenizer.CountTokens(result.Text), result.Usage.CompletionTokens - 1, result.Usage.CompletionTokens + 1);
        }
    }

    [Fact]
    public async Task TheSentenceLevelModelStreamsOneUpdatePerPiece()
    {
        var stream = Service.Submit(Greedy(ServerFixture.Sllm, "Emma was handsome, clever, and rich.", 60));
        var updates = new List<CompletionUpdate>();
        await foreach (var u in stream.ReadAllAsync()) updates.Add(u);
        Assert.True(updates.Count >= 2, $"{updates.Count} updates");
        Assert.All(updates, u => Assert.True(u.Tokens > 1 || u.Text.Length == 0, $"a piece of {u.Tokens} tokens: '{u.Text}'"));
        Assert.Equal(stream.Usage.CompletionTokens, updates.Sum(u => u.Tokens));
    }

    [Fact]
    public async Task AStopSequenceEndsTheTextJustBeforeIt()
    {
        var full = await Service.CompleteAsync(Greedy(ServerFixture.Lm, "Emma was", 40));
        int cut = full.Text.IndexOf(' ', 8);
        Assert.True(cut > 0, full.Text);
        string stop = full.Text[cut..Math.Min(full.Text.Length, cut + 4)];
        var stopped = await Service.CompleteAsync(Greedy(ServerFixture.Lm, "Emma was", 40) with { Stop = [stop] });
        Assert.Equal(full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
    }

    [Theory]
    [InlineData("ab", "xxa", "b", "xx")]         // "a" held back until "b" shows it is the stop
    [InlineData("ab", "xxa", "c", "xxac")]       // "a" released when it is not
    public void TheStopFilterHoldsBackOnlyWhatCouldStartAStop(string stop, string first, string second, string shown)
    {
        var filter = new StopSequenceFilter([stop]);
        var (a, _) = filter.Push(first);
        var (b, stopped) = filter.Push(second);
        Assert.Equal(shown, a + b + (stopped ? "" : filter.Flush()));
        Assert.Equal(shown.Length < first.Length + second.Length, stopped);
    }

    [Fact]
    public async Task ACancelledRowEndsWhileTheOthersInItsBatchFinish()
    {
        using var cancel = new CancellationTokenSource();
        var prompts = ServerFixture.Prompts(3);
        var doomed = Service.Submit(Greedy(ServerFixture.Lm, prompts[0], 200), cancel.Token);
        var others = prompts.Skip(1).Select(p => Service.CompleteAsync(Greedy(ServerFixture.Lm, p, 60))).ToList();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in doomed.ReadAllAsync(cancel.Token))
                if (++seen == 3) cancel.Cancel();
        });
        var finished = await Task.WhenAll(others);
        Assert.All(finished, f => Assert.True(f.Usage.CompletionTokens > 0));
        Assert.True(doomed.Usage.CompletionTokens < 200, $"{doomed.Usage.CompletionTokens} tokens after cancelling");
    }

    [Fact]
    public async Task AFullQueueRefusesAtOnceWithBusy()
    {
        using var service = new GenerationService(new GenerationServiceOptions { MaxBatch = 1, QueueCapacity = 1 });
        service.Add(ServedModel.Load(ServerFixture.ModelDirs[1]));
        var running = service.Submit(Greedy(ServerFixture.Lm, "Emma", 300) with { Sampling = new() { Temperature = 1, Seed = 1 } });
        await using var reading = running.ReadAllAsync().GetAsyncEnumerator();
        Assert.True(await reading.MoveNextAsync());                  // the first runs: the queue is empty again
        var waiting = service.Submit(Greedy(ServerFixture.Lm, "Emma", 5));
        var busy = Assert.Throws<ServingException>(() => service.Submit(Greedy(ServerFixture.Lm, "Emma", 5)));
        Assert.Equal(ServingError.Busy, busy.Error);
        while (await reading.MoveNextAsync()) { }
        await foreach (var _ in waiting.ReadAllAsync()) { }
        Assert.Equal(FinishReason.Length, waiting.FinishReason);
    }

    [Theory]
    [InlineData(ServerFixture.Sllm, 3000, "3000 pieces", "1024 positions")]
    [InlineData(ServerFixture.Lm, 3000, "3000 tokens", "1024 positions")]
    public void APromptLongerThanThePositionsIsRefusedNamingBothNumbers(string model, int sentences, string count, string limit)
    {
        string prompt = string.Concat(Enumerable.Repeat("Yes. ", sentences)).TrimEnd();
        if (count.EndsWith("tokens")) count = $"{Service.Find(model).Tokenizer.CountTokens(prompt)} tokens";
        var e = Assert.Throws<ServingException>(() => Service.Submit(Greedy(model, prompt, 5)));
        Assert.Equal(ServingError.InvalidRequest, e.Error);
        Assert.Contains(count, e.Message);
        Assert.Contains(limit, e.Message);
        Assert.Equal("context_length_exceeded", e.Code);
    }

    [Theory]
    [InlineData(0, 1.0, 1.0, "max_tokens")]
    [InlineData(5, -0.5, 1.0, "temperature")]
    [InlineData(5, 2.5, 1.0, "temperature")]
    [InlineData(5, 1.0, 0.0, "top_p")]
    [InlineData(5, 1.0, 1.5, "top_p")]
    public void OptionsOutOfRangeAreRefusedNamingTheField(int maxTokens, double temperature, double topP, string param)
    {
        var e = Assert.Throws<ServingException>(() => Service.Submit(new CompletionRequest { Model = ServerFixture.Lm, Prompt = "x", MaxTokens = maxTokens, Sampling = new() { Temperature = temperature, TopP = topP } }));
        Assert.Equal(param, e.Param);
    }

    [Fact]
    public async Task TheChatClientAnswersAndStreamsOnePieceAtATime()
    {
        IChatClient chat = new SentenceVaeChatClient(Service, ServerFixture.Sllm);
        List<ChatMessage> messages = [new(ChatRole.System, "A novel."), new(ChatRole.User, "Who is Emma Woodhouse?")];
        var options = new ChatOptions { MaxOutputTokens = 40, Temperature = 0 };                 // greedy; the rest: the model's defaults
        var response = await chat.GetResponseAsync(messages, options);
        Assert.NotEmpty(response.Text);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);
        Assert.Equal(40, response.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        var direct = await Service.CompleteAsync(new CompletionRequest { Model = ServerFixture.Sllm, Prompt = ChatPrompt.Format(messages), MaxTokens = 40, Sampling = new() { RepetitionPenalty = 1.1, NoRepeatPieces = 8 } });
        Assert.Equal(direct.Text, response.Text);
        Assert.Equal(direct.Usage.PromptTokens, response.Usage.InputTokenCount);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in chat.GetStreamingResponseAsync(messages, options)) updates.Add(u);
        Assert.True(updates.Count(u => u.Text.Length > 0) >= 2);
        Assert.Equal(response.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
        Assert.Equal(40, updates.SelectMany(u => u.Contents).OfType<UsageContent>().Single().Details.OutputTokenCount);
        Assert.Equal(ServerFixture.Sllm, chat.GetService<ChatClientMetadata>()!.DefaultModelId);
    }

    [Fact]
    public async Task TheChatClientMapsSamplingOptionsAndStopSequences()
    {
        IChatClient chat = new SentenceVaeChatClient(Service, ServerFixture.Lm);
        List<ChatMessage> messages = [new(ChatRole.User, "Tell me of Highbury.")];
        var seeded = new ChatOptions { MaxOutputTokens = 25, Temperature = 0.8f, TopP = 0.9f, TopK = 50, Seed = 11 };
        var a = await chat.GetResponseAsync(messages, seeded);
        var b = await chat.GetResponseAsync(messages, seeded);
        var c = await chat.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 25, Temperature = 0.8f, TopP = 0.9f, TopK = 50, Seed = 12 });
        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.Text, c.Text);
        string stop = a.Text.Trim().Split(' ')[1];
        var stopped = await chat.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 25, Temperature = 0.8f, TopP = 0.9f, TopK = 50, Seed = 11, StopSequences = [stop] });
        Assert.Equal(a.Text[..a.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task EmbeddingsAreTheTokenWeightedMeanOfThePiecesSentenceVectors()
    {
        IEmbeddingGenerator<string, Embedding<float>> embedder = new SentenceEmbeddingGenerator(Service, ServerFixture.Sllm);
        var served = Service.Find(ServerFixture.Sllm);
        string one = "Emma was handsome.", two = "Emma was handsome. She was clever, and rich.";
        var result = await embedder.GenerateAsync([one, two]);
        Assert.Equal(2, result.Count);
        Assert.All(result, e => Assert.Equal(256, e.Vector.Length));

        using var svae = SentenceVae.Checkpoints.SentenceLlmCheckpoint.Load(ServerFixture.ModelDirs[0]);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        svae.eval();
        var generator = new SentenceLlmGenerator(svae, served.Tokenizer);
        var pieces = generator.PromptPieces(two);
        Assert.True(pieces.Count >= 2, $"{pieces.Count} pieces");
        var vectors = new SentenceCodec(svae.Svae).Encode(pieces).squeeze(1);                        // (N, C)
        var weights = tensor(pieces.Select(p => (float)p.Length).ToArray()).unsqueeze(1);
        var expected = ((vectors * weights).sum(dim: 0) / weights.sum()).data<float>().ToArray();
        var single = new SentenceCodec(svae.Svae).Encode(generator.PromptPieces(one)).squeeze(1)[0].data<float>().ToArray();
        Assert.Equal(expected, result[1].Vector.ToArray(), (x, y) => Math.Abs(x - y) < 1e-4);
        Assert.Equal(single, result[0].Vector.ToArray(), (x, y) => Math.Abs(x - y) < 1e-4);
        Assert.Equal(pieces.Sum(p => p.Length) + generator.PromptPieces(one).Sum(p => p.Length), result.Usage!.InputTokenCount);
    }
}
