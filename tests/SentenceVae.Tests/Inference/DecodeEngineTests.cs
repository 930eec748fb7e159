using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Serving;
using SentenceVae.Tests.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Inference;

/// <summary>The step-level engines: rows join and leave between steps, and no row's output depends on the others.</summary>
public class DecodeEngineTests
{
    /// <summary>Runs rows in one engine; <paramref name="join"/>[i] is the step before which row i joins. Returns each row's ids (tokens, or pieces joined by '|').</summary>
    private static List<string> Run(IDecodeEngine engine, IReadOnlyList<DecodeRow> rows, IReadOnlyList<int> join)
    {
        var written = rows.ToDictionary(r => r, _ => new List<string>());
        int step = 0;
        using (engine)
            while (rows.Any(r => r.End is null))
            {
                for (int i = 0; i < rows.Count; i++)
                    if (join[i] == step) engine.Add(rows[i]);
                foreach (var e in engine.Step())
                    if (e.End is null) written[e.Row].Add(string.Join(",", e.Ids));
                step++;
                Assert.True(step < 10_000, "the engine ends its rows");
            }
        return rows.Select(r => string.Join("|", written[r])).ToList();
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.8)]
    public void ATokenRowJoiningARunningEngineWritesWhatItWritesAlone(double temperature)
    {
        using var model = TokenGeneratorTests.TinyCompactLm(7);
        var generator = new TokenGenerator(model, TextTokenizers.Compact);
        string[] prompts = ["Mr. Darcy bowed.", "It was a truth", "She smiled at him, and"];
        TokenRow Row(int i) => TokenGenerator.Row(generator.PromptIds(prompts[i]), new GenerationOptions { MaxNewTokens = 12, StopAtEos = false, Temperature = temperature, Seed = 40 + i });
        var together = Run(generator.NewEngine(3), [Row(0), Row(1), Row(2)], [0, 3, 7]);          // rows 1 and 2 join mid-run
        for (int i = 0; i < 3; i++)
            Assert.Equal(Run(generator.NewEngine(1), [Row(i)], [0])[0], together[i]);
        Assert.Equal(12, together[2].Split('|').Length);
    }

    /// <summary>A sink that keeps what a row wrote and asks for no more after <c>stopAfter</c> writes.</summary>
    private sealed class Sink(int stopAfter = int.MaxValue) : IRowSink
    {
        public readonly List<int[]> Written = [];
        public DecodeEnd? Ended;
        public bool Write(DecodeRow row, int[] ids)
        {
            Written.Add(ids);
            return Written.Count < stopAfter;
        }
        public void End(DecodeRow row) => Ended = row.End;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASinkThatNeedsNoMoreEndsItsRowInThatStepAsStopped(bool pieces)
    {
        using var scope = NewDisposeScope();
        using var lm = TokenGeneratorTests.TinyCompactLm(7);
        using var sllm = SentenceLlmTests.Tiny(33, SentenceLlmTests.TinyConfig());
        var sink = new Sink(stopAfter: 3);
        var other = new Sink();
        DecodeRow Row(Sink s) => pieces
            ? SentenceLlmGenerator.Row(SentenceLlmTests.RandomPieces(new Random(3), 2), new SentenceGenerationOptions { MaxPieces = 10, IgnoreStop = true, Tokens = new GenerationOptions { MaxNewTokens = 3 } })
            : TokenGenerator.Row(new TokenGenerator(lm, TextTokenizers.Compact).PromptIds("It was"), new GenerationOptions { MaxNewTokens = 10, StopAtEos = false });
        var (stopping, going) = (Row(sink), Row(other));
        stopping.Sink = sink;
        going.Sink = other;
        using IDecodeEngine engine = pieces ? new SentenceLlmGenerator(sllm, new SentenceLlmTests.IdsTokenizer()).NewEngine(2) : (IDecodeEngine)new TokenGenerator(lm, TextTokenizers.Compact).NewEngine(2);
        engine.Add(stopping);
        engine.Add(going);
        for (int step = 0; step < 100 && sink.Written.Count < 3; step++) engine.Step();
        Assert.Equal(DecodeEnd.Stop, stopping.End);                              // ended in the step of its third write, not a later one
        Assert.Equal(DecodeEnd.Stop, sink.Ended);
        Assert.Equal(3, sink.Written.Count);
        Assert.Null(going.End);                                                  // its batch-mate goes on
        going.Halt();                                                            // its owner halts it: it leaves at the next step, with what it wrote
        var events = engine.Step();
        Assert.Equal(DecodeEnd.Halted, going.End);
        Assert.Equal(DecodeEnd.Halted, other.Ended);
        Assert.Contains(events, e => e.Row == going && e.End == DecodeEnd.Halted);
        Assert.Equal(0, engine.Count);
    }

    [Theory]
    [InlineData(false, 0.0)]
    [InlineData(true, 0.0)]
    [InlineData(true, 0.9)]
    public void APieceRowJoiningARunningEngineWritesWhatItWritesAlone(bool rich, double temperature)
    {
        using var scope = NewDisposeScope();
        using var model = SentenceLlmTests.Tiny(33, rich ? SentenceLlmTests.RichConfig() : SentenceLlmTests.TinyConfig());
        var generator = new SentenceLlmGenerator(model, new SentenceLlmTests.IdsTokenizer());
        var rng = new Random(3);
        var prompts = Enumerable.Range(0, 4).Select(i => SentenceLlmTests.RandomPieces(rng, 1 + i)).ToList();
        PieceRow Row(int i) => SentenceLlmGenerator.Row(prompts[i], new SentenceGenerationOptions
        {
            MaxPieces = 5, IgnoreStop = true, Tokens = new GenerationOptions { MaxNewTokens = 3 + 2 * i, Temperature = temperature, Seed = 7 + i },
        });
        var together = Run(generator.NewEngine(4), Enumerable.Range(0, 4).Select(Row).ToList(), [0, 2, 5, 9]);
        for (int i = 0; i < 4; i++)
            Assert.Equal(Run(generator.NewEngine(1), [Row(i)], [0])[0], together[i]);
        Assert.All(together, t => Assert.Equal(5, t.Split('|').Length));
    }

    [Fact]
    public void ARowOfShortPiecesIsNotHeldBackByARowOfLongPieces()
    {
        // Pieces of 2 tokens beside pieces of 8 (EOS ignored): the short row writes its 16 tokens in 16
        // steps, as alone; a lock-step loop would make it wait for every long piece (8 pieces × 8 steps).
        using var scope = NewDisposeScope();
        using var model = SentenceLlmTests.Tiny(34);
        PieceRow Row(int pieceTokens) => new([[5, 6, 7]])
        {
            IgnoreStop = true, MaxTokens = 16, Sampling = new GenerationOptions { MaxNewTokens = pieceTokens, StopAtEos = false },
        };
        int StepsUntilEnded(SentenceEngine engine, PieceRow watched, params PieceRow[] rows)
        {
            using (engine)
            {
                foreach (var row in rows) engine.Add(row);
                int steps = 0;
                while (watched.End is null) { engine.Step(); steps++; }
                return steps;
            }
        }
        var alone = Row(2);
        int aloneSteps = StepsUntilEnded(new SentenceEngine(model, 1), alone, alone);
        var shortRow = Row(2);
        var longRow = Row(8);
        int besideSteps = StepsUntilEnded(new SentenceEngine(model, 2) { PieceBatchShare = 0 }, shortRow, shortRow, longRow);
        Assert.Equal(16, aloneSteps);
        Assert.Equal(aloneSteps, besideSteps);
        Assert.Equal(8, shortRow.Pieces);

        // With the default batching of per-piece work a row waits at most PieceMaxWait steps per piece.
        var engine = new SentenceEngine(model, 2);
        shortRow = Row(2);
        longRow = Row(8);
        int batched = StepsUntilEnded(engine, shortRow, shortRow, longRow);
        Assert.InRange(batched, 16, 16 + engine.PieceMaxWait * 7);
    }

    [Fact]
    public void ASlotStepWritesEachRowAtItsOwnLengthAndSeesOnlyItsPast()
    {
        using var scope = NewDisposeScope();
        using var cache = new SlotKvCache(layers: 1, slots: 3, heads: 1, positions: 5, headDim: 2, ScalarType.Float32, CPU);
        using var prefill = new KvCache(1);
        prefill.Update(ones(1, 1, 2, 2), ones(1, 1, 2, 2), 0);
        cache.Load(1, prefill);                                                  // slot 1: 2 positions; slots 0, 2: empty
        var step = cache.Step([1, 2]);
        Assert.Equal(new long[] { 2, 0 }, step.Positions.data<long>().ToArray());
        var (k, _) = step.Update(full(2, 1, 1, 2, 7f), full(2, 1, 1, 2, 7f), 0);
        Assert.Equal(new long[] { 2, 1, 3, 2 }, k.shape);                        // gathered to the widest row's past + 1
        step.Commit();
        Assert.Equal(3, cache.Length(1));
        Assert.Equal(1, cache.Length(2));
        var mask = step.Attention.reshape(2, 3).data<float>().ToArray();
        Assert.Equal(new[] { 0f, 0f, 0f, 0f, float.MinValue, float.MinValue }, mask);   // row 2 sees only its new position
        cache.Move(1, 0);
        Assert.Equal(3, cache.Length(0));
        var moved = cache.Step(1);                                               // slot 0 as a contiguous view
        var (k0, _) = moved.Update(zeros(1, 1, 1, 2), zeros(1, 1, 1, 2), 0);
        Assert.Equal(new[] { 1f, 1f, 1f, 1f, 7f, 7f, 0f, 0f }, k0.reshape(-1).data<float>().ToArray());
    }
}
