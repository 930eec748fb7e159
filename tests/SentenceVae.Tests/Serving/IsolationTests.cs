using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Serving;
using SentenceVae.Tests.Inference;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Serving;

/// <summary>One request's failure costs that request alone: its batch-mates write what they write alone.</summary>
public class IsolationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>A served model whose embedding job holds the worker until released, so the requests sent meanwhile wait and then join the engine together.</summary>
    internal sealed class Gate(ITextTokenizer tokenizer, string name = "gate") : ServedModel(name, tokenizer)
    {
        public readonly ManualResetEventSlim Open = new(), Entered = new();
        public override SentenceVae.Checkpoints.ModelKind Kind => SentenceVae.Checkpoints.ModelKind.SentenceLlm;
        public override int MaxPositions => 1;
        public override bool CanEmbed => true;
        internal override (DecodeRow Row, int PromptTokens) Read(CompletionRequest request, int defaultMaxTokens, CancellationToken cancel) => throw new NotSupportedException();
        internal override IDecodeEngine NewEngine(int capacity) => throw new NotSupportedException();
        internal override string Text(ServedRow row, int[] ids) => throw new NotSupportedException();
        internal override EmbeddingResult Embed(IReadOnlyList<string> inputs, CancellationToken cancel)
        {
            Entered.Set();                                                        // the worker is inside the gate now
            Open.Wait();
            return new EmbeddingResult([[0f]], 0);
        }
        public override void Dispose()
        {
            Open.Dispose();
            Entered.Dispose();
        }
    }

    /// <summary>Holds the service's worker in the gate (its embedding job) until <c>gate.Open</c> is set; the task ends when the worker is released.</summary>
    internal static Task<EmbeddingResult> Hold(GenerationService service, Gate gate)
    {
        var held = service.EmbedAsync(gate.Name, ["x"]);
        Assert.True(gate.Entered.Wait(TimeSpan.FromMinutes(1)), "the worker entered the gate");
        return held;
    }

    /// <summary>Runs <paramref name="requests"/> together behind the gate (they join the engine at once); each outcome is its text or its exception.</summary>
    private static async Task<List<(string? Text, Exception? Error)>> OneBatch(GenerationService service, Gate gate, IReadOnlyList<CompletionRequest> requests)
    {
        int joined = 0, joinedBeforeFirstStep = -1;
        void Joined(string model) => joined++;
        void Seen(string model, int rows) { if (joinedBeforeFirstStep < 0) joinedBeforeFirstStep = joined; }
        service.Admitted += Joined;
        service.Stepped += Seen;
        var held = Hold(service, gate);
        var runs = requests.Select(r => service.CompleteAsync(r)).ToList();      // queued while the gate holds the worker
        gate.Open.Set();
        await held;
        var outcomes = new List<(string?, Exception?)>();
        foreach (var run in runs)
        {
            try { outcomes.Add(((await run).Text, null)); }
            catch (Exception e) { outcomes.Add((null, e)); }
        }
        gate.Open.Reset();
        gate.Entered.Reset();
        service.Stepped -= Seen;
        service.Admitted -= Joined;
        Assert.Equal(requests.Count, joinedBeforeFirstStep);                      // they really ran together: all joined before the engine's first step
        return outcomes;
    }

    private static ServedModel Poisoned(string kind, int fromPosition)
    {
        var tok = TextTokenizers.Compact;
        if (kind == "opt")
        {
            var lm = TokenGeneratorTests.TinyCompactLm(11);
            Poison(lm, "embed_positions.weight", fromPosition);
            return new ServedTokenModel("lm", lm, tok);
        }
        manual_seed(12);
        var svae = new SentenceVaeConfig { HiddenSize = 32, NumAttentionHeads = 4, VocabSize = tok.VocabSize, BosId = tok.BosId, EosId = tok.EosId, PadId = tok.PadId, MaxSeqLen = 24, Dropout = 0 };
        var sllm = new SentenceLlm(new SentenceLlmConfig
        {
            Svae = svae,
            Backbone = new OptConfig { VocabSize = tok.VocabSize, HiddenSize = 32, NumHiddenLayers = 1, FfnDim = 64, NumAttentionHeads = 4, MaxPositionEmbeddings = 64, Dropout = 0 },
        });
        sllm.eval();
        Poison(sllm, "llm_pe.weight", fromPosition);
        return new ServedSentenceLlm("sllm", sllm, tok);
    }

    /// <summary>NaN in every position embedding from <paramref name="fromPosition"/> on (OPT's table is offset by 2): only a row that reaches that far breaks.</summary>
    private static void Poison(nn.Module model, string name, int fromPosition)
    {
        var table = model.named_parameters().Single(p => p.name.EndsWith(name)).parameter;
        using var noGrad = no_grad();
        table.narrow(0, fromPosition + 2, table.shape[0] - fromPosition - 2).fill_(float.NaN);
    }

    [Theory]
    [InlineData("opt", 40)]
    [InlineData("sentence_llm", 16)]
    public async Task ARowWhoseProbabilitiesAreNotFiniteEndsAloneAndItsBatchMatesWriteWhatTheyWriteAlone(string kind, int poisonedFrom)
    {
        var tok = TextTokenizers.Compact;
        using var service = new GenerationService();
        var gate = new Gate(tok);
        service.Add(gate);
        var model = Poisoned(kind, poisonedFrom);
        service.Add(model);
        string longPrompt = string.Concat(Enumerable.Repeat("It rained. ", kind == "opt" ? 15 : 24));       // reaches the poisoned positions (token or piece)
        var shortPrompts = new[] { "Emma was handsome.", "Call me Ishmael.", "She smiled." };
        CompletionRequest Request(string prompt, double temperature = 0) => new() { Model = model.Name, Prompt = prompt, MaxTokens = 8, Sampling = new() { Temperature = temperature, Seed = 5 } };
        var alone = new List<string>();
        foreach (var p in shortPrompts) alone.Add((await service.CompleteAsync(Request(p))).Text);
        var sampledAlone = (await service.CompleteAsync(Request(shortPrompts[0], 0.9))).Text;

        var outcomes = await OneBatch(service, gate, [Request(shortPrompts[0]), Request(longPrompt), Request(shortPrompts[1]), Request(shortPrompts[0], 0.9), Request(shortPrompts[2])]);
        var failure = Assert.IsType<ServingException>(outcomes[1].Error);
        Assert.Equal(ServingError.ModelFault, failure.Error);
        Assert.Contains("not finite", failure.Message);
        Assert.Equal([alone[0], alone[1], sampledAlone, alone[2]], new[] { outcomes[0], outcomes[2], outcomes[3], outcomes[4] }.Select(o => o.Text ?? o.Error!.Message));
    }

    [Theory]
    [InlineData("opt")]
    [InlineData("sentence_llm")]
    public async Task ATemperatureTooSmallToDivideByIsGreedyAndHurtsNoOne(string kind)
    {
        var tok = TextTokenizers.Compact;
        using var service = new GenerationService();
        var gate = new Gate(tok);
        service.Add(gate);
        var model = Poisoned(kind, 60);                                         // nothing here reaches position 60
        service.Add(model);
        var prompts = new[] { "Emma was handsome.", "Call me Ishmael.", "She smiled at him." };
        CompletionRequest Request(string prompt, double temperature) => new() { Model = model.Name, Prompt = prompt, MaxTokens = 8, Sampling = new() { Temperature = temperature } };
        var greedy = new List<string>();
        foreach (var p in prompts) greedy.Add((await service.CompleteAsync(Request(p, 0))).Text);
        var outcomes = await OneBatch(service, gate, [Request(prompts[0], 0), Request(prompts[1], 1e-40), Request(prompts[2], 0), Request(prompts[0], 1e-300)]);
        Assert.Equal([greedy[0], greedy[1], greedy[2], greedy[0]], outcomes.Select(o => o.Text ?? o.Error!.ToString()));
    }

    [Fact]
    public async Task EmbeddingAndCompletionBudgetsAreRefusedUpFrontNamingTheLimit()
    {
        using var service = new GenerationService(new GenerationServiceOptions { MaxEmbeddingInputs = 10, MaxEmbeddingTokens = 50, MaxCompletionTokens = 100 });
        service.Add(Poisoned("sentence_llm", 60));
        void Embed(List<string> inputs) => _ = service.EmbedAsync("sllm", inputs);     // refused synchronously, before anything is queued
        var many = Assert.Throws<ServingException>(() => Embed(Enumerable.Repeat("Hi.", 11).ToList()));
        Assert.Equal(("input", "too_many_inputs"), (many.Param, many.Code));
        Assert.Contains("at most 10", many.Message);
        var big = Assert.Throws<ServingException>(() => Embed([string.Concat(Enumerable.Repeat("Hello there. ", 30))]));
        Assert.Equal(("input", "too_many_tokens"), (big.Param, big.Code));
        var huge = Assert.Throws<ServingException>(() => Embed([new string('a', 1 << 20)]));   // not even tokenized
        Assert.Equal("too_many_tokens", huge.Code);
        var endless = Assert.Throws<ServingException>(() => service.Submit(new CompletionRequest { Model = "sllm", Prompt = "Hi.", MaxTokens = int.MaxValue }));
        Assert.Equal("max_tokens", endless.Param);
        Assert.Contains("100", endless.Message);
        Assert.Single((await service.EmbedAsync("sllm", ["Hello there."])).Vectors);          // within the budgets: served
    }

    [Fact]
    public async Task ACancelledEmbeddingJobFreesTheWorkerWithinOneInput()
    {
        using var service = new GenerationService(new GenerationServiceOptions { MaxEmbeddingInputs = 100_000, MaxEmbeddingTokens = 10_000_000 });
        service.Add(Poisoned("sentence_llm", 60));
        var inputs = Enumerable.Range(0, 20_000).Select(i => $"Sentence number {i} is here, and it goes on for a while. Then another one.").ToList();
        using var gone = new CancellationTokenSource();
        var job = service.EmbedAsync("sllm", inputs, gone.Token);                 // minutes of work if it ran to its end
        await Task.Delay(300);
        gone.Cancel();                                                           // the client disconnects mid-job
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var next = await service.CompleteAsync(new CompletionRequest { Model = "sllm", Prompt = "Hi.", MaxTokens = 3 });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => job);
        Assert.True(next.Usage.CompletionTokens > 0);
        // The job ended cancelled (not run to its end) and the worker served the completion queued behind it;
        // how long that took is reported, not asserted (it depends on the machine's load).
        output.WriteLine($"a 3-token completion behind the cancelled 20,000-input job finished {clock.Elapsed.TotalMilliseconds:F0} ms after the cancel");
    }

    /// <summary>A clock that moves only when told (request time limits without timing luck).</summary>
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task ARequestPastTheServersTimeLimitEndsByLengthWithWhatItWrote()
    {
        var time = new ManualTime();
        using var service = new GenerationService(new GenerationServiceOptions { RequestTimeout = TimeSpan.FromSeconds(10), Time = time });
        service.Add(Poisoned("opt", 100));
        int steps = 0;
        service.Stepped += (_, _) => { if (++steps == 3) time.Now += TimeSpan.FromSeconds(11); };   // its time runs out after its third step
        var result = await service.CompleteAsync(new CompletionRequest { Model = "lm", Prompt = "Emma", MaxTokens = 50 });
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(3, result.Usage.CompletionTokens);                        // cut by time, with what it wrote
        Assert.Equal(1, service.Statistics.Completed);                         // an ending, not a cancellation
    }

    [Fact]
    public async Task ARequestWhoseTimeRanOutBeforeItStartedIsRefusedNotAnsweredEmpty()
    {
        var time = new ManualTime();
        using var service = new GenerationService(new GenerationServiceOptions { RequestTimeout = TimeSpan.FromSeconds(2), Time = time });
        var gate = new Gate(TextTokenizers.Compact);
        service.Add(gate);
        service.Add(Poisoned("opt", 100));
        var held = Hold(service, gate);
        var waiting = service.CompleteAsync(new CompletionRequest { Model = "lm", Prompt = "Emma", MaxTokens = 5 });
        time.Now += TimeSpan.FromSeconds(3);                                     // it waited past its limit
        gate.Open.Set();
        await held;
        var e = await Assert.ThrowsAsync<ServingException>(() => waiting);
        Assert.Equal((ServingError.Busy, "queue_timeout"), (e.Error, e.Code));
        Assert.Contains("never started", e.Message);
    }

    /// <summary>A served model whose engine's step throws (a failure of the engine, not of one row).</summary>
    private sealed class Failing(ServedModel inner) : ServedModel("failing", inner.Tokenizer)
    {
        public override SentenceVae.Checkpoints.ModelKind Kind => inner.Kind;
        public override int MaxPositions => inner.MaxPositions;
        internal override (DecodeRow Row, int PromptTokens) Read(CompletionRequest request, int defaultMaxTokens, CancellationToken cancel) => inner.Read(request, defaultMaxTokens, cancel);
        internal override IDecodeEngine NewEngine(int capacity) => new Engine(inner.NewEngine(capacity));
        internal override string Text(ServedRow row, int[] ids) => inner.Text(row, ids);
        public override void Dispose() => inner.Dispose();

        private sealed class Engine(IDecodeEngine inner) : IDecodeEngine
        {
            public int Count => inner.Count;
            public int Capacity => inner.Capacity;
            public long RowIterations => inner.RowIterations;
            public long WaitingRowIterations => inner.WaitingRowIterations;
            public bool UsesKernels => inner.UsesKernels;
            public long KernelWeightBytes => inner.KernelWeightBytes;
            public void Add(DecodeRow row) => inner.Add(row);
            public List<DecodeEvent> Step() => throw new InvalidOperationException("the engine broke");
            public void Remove(DecodeRow row) => inner.Remove(row);
            public void Dispose() => inner.Dispose();
        }
    }

    [Fact]
    public async Task AfterAFailedStepTheRunningCountIsZeroAndTheDrainEnds()
    {
        using var service = new GenerationService();
        service.Add(new Failing(Poisoned("opt", 100)));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => service.CompleteAsync(new CompletionRequest { Model = "failing", Prompt = "Emma", MaxTokens = 5 }));
        Assert.Contains("broke", e.Message);
        Assert.Equal(0, service.Running);                                       // the worker's bookkeeping survived the failure
        Assert.True(await service.DrainAsync(TimeSpan.FromSeconds(30)));        // so the drain ends at once, with nothing left
    }

    [Fact]
    public async Task ADrainWithWorkLeftEndsAtItsDeadlineAndAnswersTheRequestsThatNeverStarted()
    {
        using var service = new GenerationService(new GenerationServiceOptions { MaxBatch = 1 });
        var gate = new Gate(TextTokenizers.Compact);
        service.Add(gate);
        service.Add(Poisoned("opt", 100));
        var held = Hold(service, gate);
        var queued = service.CompleteAsync(new CompletionRequest { Model = "lm", Prompt = "Emma", MaxTokens = 5 });
        // The worker is held: the drain gives up at its deadline (timeout + grace) instead of waiting for ever.
        Assert.False(await service.DrainAsync(TimeSpan.Zero));
        var refused = Assert.Throws<ServingException>(() => service.Submit(new CompletionRequest { Model = "lm", Prompt = "Emma", MaxTokens = 5 }));
        Assert.Equal("shutting_down", refused.Code);
        gate.Open.Set();
        await held;
        var e = await Assert.ThrowsAsync<ServingException>(() => queued);        // answered with why, not cut to an empty "length"
        Assert.Equal("shutting_down", e.Code);
    }

    public static TheoryData<int> FuzzSeeds => [1, 2, 3];

    /// <summary>
    /// Random accepted sampling controls — and their extremes — on rows batched with greedy rows: each
    /// greedy row writes exactly what it writes alone, and no other row fails but with its own error.
    /// </summary>
    [Theory]
    [MemberData(nameof(FuzzSeeds))]
    public async Task AnyAcceptedSamplingControlsLeaveTheGreedyRowsOfTheirBatchUnchanged(int seed)
    {
        var tok = TextTokenizers.Compact;
        using var service = new GenerationService();
        var gate = new Gate(tok);
        service.Add(gate);
        service.Add(Poisoned("opt", 100));
        service.Add(Poisoned("sentence_llm", 60));
        var random = new Random(seed);
        double Pick(params double[] values) => values[random.Next(values.Length)];
        CompletionRequest Wild(string model, string prompt) => new()
        {
            Model = model, Prompt = prompt, MaxTokens = 8,
            Sampling = new()
            {
                Seed = random.NextInt64(),
                Temperature = Pick(0, 1e-300, 1e-4, 0.5, 1, 2),
                TopP = Pick(1, 0.5, 1e-300, double.Epsilon),
                TopK = (int)Pick(0, 1, 2, 50, int.MaxValue),
                RepetitionPenalty = Pick(1, GenerationOptions.MinRepetitionPenalty, 0.5, 1.3, 10),
                FrequencyPenalty = Pick(0, -2, 2, 1e-300),
                PresencePenalty = Pick(0, -2, 2),
                NoRepeatNgramSize = (int)Pick(0, 1, 2, 64),
                NoRepeatPieces = (int)Pick(0, 1, 64),
            },
        };
        var prompts = new[] { "Emma was handsome.", "Call me Ishmael.", "She smiled at him." };
        foreach (var model in new[] { "lm", "sllm" })
        {
            CompletionRequest Greedy(string prompt) => new() { Model = model, Prompt = prompt, MaxTokens = 8 };
            var alone = new List<string>();
            foreach (var p in prompts) alone.Add((await service.CompleteAsync(Greedy(p))).Text);
            var batch = new List<CompletionRequest>();
            for (int i = 0; i < prompts.Length; i++) { batch.Add(Greedy(prompts[i])); batch.Add(Wild(model, prompts[(i + 1) % prompts.Length])); batch.Add(Wild(model, prompts[i])); }
            var outcomes = await OneBatch(service, gate, batch);
            for (int i = 0; i < prompts.Length; i++) Assert.Equal(alone[i], outcomes[3 * i].Text ?? outcomes[3 * i].Error!.ToString());
            foreach (var (text, error) in outcomes)
                if (error is not null) Assert.Equal(ServingError.ModelFault, Assert.IsType<ServingException>(error).Error);   // a wild row may fail, alone
        }
    }

    [Fact]
    public void GreedyRowsOnTheHostPickLibtorchsArgmaxAndBreakAloneOnWhatIsNotUsable()
    {
        // Rows: ties (the first wins, as libtorch's argmax), some banned tokens (usable), a NaN after the best, +inf, every token banned, random.
        float ninf = float.NegativeInfinity;
        var special = new float[,]
        {
            { 1f, 3f, 3f, 2f, -1f }, { ninf, ninf, 0.5f, ninf, 0.25f }, { 5f, 1f, float.NaN, 2f, 0f },
            { 0f, float.PositiveInfinity, 1f, 2f, 3f }, { ninf, ninf, ninf, ninf, ninf },
        };
        var logits = cat([tensor(special), randn(3, 5)], 0);
        var rows = Enumerable.Range(0, 8).Select(_ => new RowSampling(new GenerationOptions(), CPU)).ToList();
        try
        {
            var ids = TokenSampler.Sample(logits, rows).data<long>().ToArray();
            var argmax = logits.argmax(-1).data<long>().ToArray();
            Assert.Equal([1L, 2L, TokenSampler.Broken, TokenSampler.Broken, TokenSampler.Broken, argmax[5], argmax[6], argmax[7]], ids);
            Assert.Equal(argmax[..2], ids[..2]);
        }
        finally { foreach (var r in rows) r.Dispose(); }
    }

    [Fact]
    public void APenaltyThatWouldOverflowFloat32BreaksItsRowAloneAfterTheCheck()
    {
        var rows = new[] { new RowSampling(new GenerationOptions(), CPU), new RowSampling(new GenerationOptions { Temperature = 1, Seed = 3, RepetitionPenalty = GenerationOptions.MinRepetitionPenalty }, CPU) };
        rows[1].Start([0]);                                                     // token 0 is in its text: its logit is divided by the penalty
        try
        {
            var logits = tensor(new float[] { 3e37f, 1f, 2f, 0f, 3e37f, 1f, 2f, 0f }, new long[] { 2, 4 });
            var ids = TokenSampler.Sample(logits, rows).data<long>().ToArray();
            Assert.Equal(0, ids[0]);                                             // the greedy row: unchanged
            Assert.Equal(TokenSampler.Broken, ids[1]);                           // 3e37 / 0.01 is inf in float32: that row alone, nothing thrown
        }
        finally { foreach (var r in rows) r.Dispose(); }
    }

    [Fact]
    public void RepetitionPenaltiesAndTemperaturesFloat32CannotHoldAreRefusedByName()
    {
        foreach (var (request, param) in new[]
                 {
                     (new CompletionRequest { Model = "m", Prompt = "a", Sampling = new() { RepetitionPenalty = 1e-40 } }, "repetition_penalty"),
                     (new CompletionRequest { Model = "m", Prompt = "a", Sampling = new() { RepetitionPenalty = 0.001 } }, "repetition_penalty"),
                     (new CompletionRequest { Model = "m", Prompt = "a", Sampling = new() { RepetitionPenalty = 1e40 } }, "repetition_penalty"),
                     (new CompletionRequest { Model = "m", Prompt = "a", Sampling = new() { Temperature = 1e300 } }, "temperature"),
                 })
            Assert.Equal(param, Assert.Throws<ServingException>(request.Validate).Param);
        Assert.Throws<ArgumentOutOfRangeException>(() => new GenerationOptions { RepetitionPenalty = 1e-40 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new GenerationOptions { Temperature = 1e300 }.Validate());
    }

    [Fact]
    public async Task AnEmbeddingJobRunsInSlicesThatTakeTurnsWithDecodeSteps()
    {
        var tok = TextTokenizers.Compact;
        using var service = new GenerationService();
        var gate = new Gate(tok);
        service.Add(gate);
        service.Add(Poisoned("sentence_llm", 60));
        string big = string.Concat(Enumerable.Range(0, 2000).Select(i => $"Sentence {i} is here. "));    // ~14,000 tokens: a dozen slices
        var alone = (await service.EmbedAsync("sllm", [big])).Vectors[0];

        var held = Hold(service, gate);
        var job = service.EmbedAsync("sllm", [big, "Emma smiled."]);
        var completion = service.CompleteAsync(new CompletionRequest { Model = "sllm", Prompt = "Emma smiled.", MaxTokens = 3 });
        gate.Open.Set();
        await held;
        var finished = await Task.WhenAny(job, completion);
        Assert.Same(completion, finished);                                       // the completion did not wait for the whole job
        var vectors = (await job).Vectors;
        Assert.Equal(alone, vectors[0]);                                         // an input's vector does not depend on what it was sent with
    }

    [Fact]
    public async Task ModelsTakeTurnsOnTheWorker()
    {
        var tok = TextTokenizers.Compact;
        using var service = new GenerationService(new GenerationServiceOptions { MaxBatch = 1 });
        var gate = new Gate(tok);
        service.Add(gate);
        service.Add(Poisoned("opt", 100));
        service.Add(Poisoned("sentence_llm", 60));
        var order = new List<string>();                                          // requests in the order they join their model's engine
        var steps = new List<string>();
        service.Admitted += model => order.Add(model);
        service.Stepped += (model, _) => steps.Add(model);
        Task<CompletionResult> Run(string model) => service.CompleteAsync(new CompletionRequest { Model = model, Prompt = "Emma smiled.", MaxTokens = 4 });
        var held = Hold(service, gate);
        var runs = new[] { Run("lm"), Run("lm"), Run("lm"), Run("sllm") };      // queued in this order, while the gate holds the worker
        gate.Open.Set();
        await held;
        await Task.WhenAll(runs);
        Assert.Equal(["lm", "sllm", "lm", "lm"], order);                        // the sentence-level request did not wait for every lm request
        Assert.Equal(["lm", "sllm", "lm", "sllm"], steps.Take(4));               // and the two models' engines take turns step by step
    }

    [Fact]
    public void SamplingNeverSeesInfOrNaNWhateverTheTemperature()
    {
        using RowSampling cold = new(new GenerationOptions { Temperature = 1e-3, Seed = 1 }, CPU), warm = new(new GenerationOptions { Temperature = 0.7, Seed = 2 }, CPU);
        var logits = tensor(new float[] { 1e30f, -1e30f, 3f, 2f, float.NaN, 1f, 0f, -1f }, new long[] { 2, 4 });
        var ids = TokenSampler.Sample(logits, [cold, warm]).data<long>().ToArray();
        Assert.Equal(0, ids[0]);                        // small temperature (1e30 / 1e-3 overflows float32): the best token, no inf
        Assert.Equal(TokenSampler.Broken, ids[1]);      // NaN logits: that row is marked broken, nothing thrown
    }
}
