using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Inference;

public class TokenGeneratorTests
{
    /// <summary>A small random OPT over the compact vocabulary (so text can be generated and decoded).</summary>
    internal static OptForCausalLm TinyCompactLm(int seed = 0, bool preNorm = true)
    {
        manual_seed(seed);
        var tok = TextTokenizers.Compact;
        var model = new OptForCausalLm(new OptConfig
        {
            VocabSize = tok.VocabSize, HiddenSize = 32, NumHiddenLayers = 2, FfnDim = 64, NumAttentionHeads = 4, MaxPositionEmbeddings = 128,
            DoLayerNormBefore = preNorm, PadTokenId = tok.PadId, BosTokenId = tok.BosId, EosTokenId = tok.EosId, Dropout = 0,
        });
        model.eval();
        return model;
    }

    /// <summary>Greedy continuation recomputed from scratch (no cache) at every step: what cached decoding must equal.</summary>
    private static List<int> UncachedGreedy(OptForCausalLm model, int[] prompt, int steps)
    {
        var ids = prompt.Select(i => (long)i).ToList();
        var output = new List<int>();
        using var noGrad = no_grad();
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            var logits = model.forward(tensor(ids.ToArray(), new long[] { 1, ids.Count }), ones(1, ids.Count, dtype: ScalarType.Int64));
            int next = (int)logits.select(1, -1).argmax(-1).item<long>();
            output.Add(next);
            ids.Add(next);
        }
        return output;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CachedGreedyDecodingEqualsUncached(bool preNorm)
    {
        using var model = TinyCompactLm(1, preNorm);
        var gen = new TokenGenerator(model, TextTokenizers.Compact);
        var prompt = gen.PromptIds("It is a truth universally acknowledged, that");
        var cached = gen.Generate([prompt], new GenerationOptions { MaxNewTokens = 20, StopAtEos = false })[0];
        Assert.Equal(UncachedGreedy(model, prompt, 20), cached);
    }

    [Fact]
    public void PastItsTrainedContextARowSeesItsLastHalfContextRePrefilled()
    {
        // Trained on 8 tokens: once the view would hold 9, it restarts from the last 4 (computed here from
        // scratch at every step, no cache); batched rows (different lengths, so they slide at different
        // steps) equal the rows alone.
        const int context = 8;
        using var model = TinyCompactLm(3);
        using var windowed = new OptForCausalLm(model.Config with { TrainedContext = context });
        windowed.load_state_dict(model.state_dict());
        windowed.eval();
        var gen = new TokenGenerator(windowed, TextTokenizers.Compact);
        var prompts = new[] { gen.PromptIds("It is a truth universally acknowledged, that a single man"), gen.PromptIds("Call me"), gen.PromptIds("The") };
        Assert.True(prompts[0].Length > context, "one prompt is already longer than the context");
        var options = new GenerationOptions { MaxNewTokens = 24, StopAtEos = false };
        var batched = gen.Generate(prompts, options);
        foreach (var (prompt, row) in prompts.Zip(batched))
        {
            var ids = prompt.ToList();
            int start = 0;
            var expected = new List<int>();
            using var noGrad = no_grad();
            for (int s = 0; s < 24; s++)
            {
                using var scope = NewDisposeScope();
                if (ids.Count - start > context) start = ids.Count - context / 2;
                var view = ids.Skip(start).Select(i => (long)i).ToArray();
                var logits = windowed.forward(tensor(view, new long[] { 1, view.Length }), ones(1, view.Length, dtype: ScalarType.Int64));
                int next = (int)logits.select(1, -1).argmax(-1).item<long>();
                expected.Add(next);
                ids.Add(next);
            }
            Assert.Equal(expected, row);
            Assert.Equal(row, gen.Generate([prompt], options)[0]);
        }
        // And the window mattered: the unwindowed model, which sees everything, writes something else.
        Assert.NotEqual(batched, new TokenGenerator(model, TextTokenizers.Compact).Generate(prompts, options));
    }

    [Fact]
    public void AContextWindowRestartsFromTheLastHalfOnlyWhenFull()
    {
        var window = new ContextWindow(8);
        Assert.Equal(4, window.Keep);
        Assert.Equal(0, window.Start(8));          // fits
        Assert.Equal(5, window.Start(9));          // one too many: the last 4 stay
        Assert.Equal(5, window.Start(13, 5));      // 8 in view: fits
        Assert.Equal(10, window.Start(14, 5));     // 9 in view: restart
        Assert.Equal(1, new ContextWindow(1).Keep);
    }

    [Fact]
    public void BatchedRowsWithDifferentPromptLengthsEqualSingleRows()
    {
        using var model = TinyCompactLm(2);
        var gen = new TokenGenerator(model, TextTokenizers.Compact);
        var prompts = new[] { gen.PromptIds("Emma Woodhouse, handsome, clever, and rich,"), gen.PromptIds("Call me"), gen.PromptIds("The") };
        var options = new GenerationOptions { MaxNewTokens = 12, StopAtEos = false };
        var batched = gen.Generate(prompts, options);
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(gen.Generate([prompts[i]], options)[0], batched[i]);
    }

    [Fact]
    public void RowsStopIndependentlyAtEos()
    {
        using var model = TinyCompactLm(3);
        var tok = TextTokenizers.Compact;
        var gen = new TokenGenerator(model, tok);
        var prompts = new[] { gen.PromptIds("One"), gen.PromptIds("Two words") };
        // Make EOS the greedy choice after the first prompt's last token only, via the tied embedding of EOS.
        var rows = prompts.Select(p => TokenGenerator.Row(p, new GenerationOptions { MaxNewTokens = 5 })).ToList();
        var events = gen.Run(rows).SelectMany(s => s).ToList();
        foreach (var row in rows)
        {
            // Each row ends once, at EOS or its limit, and writes nothing after its end.
            var mine = events.Where(e => e.Row == row).ToList();
            Assert.Single(mine, e => e.End is not null);
            Assert.NotNull(mine[^1].End);
            Assert.Equal(row.End == DecodeEnd.Stop ? row.Tokens - 1 : row.Tokens, mine.Count - 1);   // an EOS is counted, not written
            Assert.InRange(row.Tokens, 1, 5);
        }
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndFiltersRespectTopK()
    {
        using var model = TinyCompactLm(4);
        var gen = new TokenGenerator(model, TextTokenizers.Compact);
        var prompt = gen.PromptIds("She was");
        var options = new GenerationOptions { MaxNewTokens = 16, Temperature = 1.0, TopK = 50, TopP = 0.9, Seed = 123, StopAtEos = false };
        var a = gen.Generate([prompt], options)[0];
        var b = gen.Generate([prompt], options)[0];
        Assert.Equal(a, b);
        var top1 = gen.Generate([prompt], options with { TopK = 1 })[0];
        Assert.Equal(gen.Generate([prompt], new GenerationOptions { MaxNewTokens = 16, StopAtEos = false })[0], top1);
    }

    [Fact]
    public async Task StreamsTokensWithTheirText()
    {
        using var model = TinyCompactLm(5);
        var tok = TextTokenizers.Compact;
        var gen = new TokenGenerator(model, tok);
        var streamed = new List<GeneratedToken>();
        await foreach (var t in gen.StreamAsync("Mr. Darcy", new GenerationOptions { MaxNewTokens = 10, StopAtEos = false })) streamed.Add(t);
        Assert.Equal(10, streamed.Count);
        Assert.Equal(gen.Generate([gen.PromptIds("Mr. Darcy")], new GenerationOptions { MaxNewTokens = 10, StopAtEos = false })[0], streamed.Select(t => t.Id));
        Assert.Equal(tok.Decode(streamed.Select(t => t.Id)), string.Concat(streamed.Select(t => t.Text)));
    }

    [Fact]
    public void GenerationStreamsFromTheHuggingFaceFixture()
    {
        using var model = HuggingFaceCheckpoint.LoadOpt(TestPaths.Fixture("opt-pre"));
        var fixtureTokenizer = new FixedIdsTokenizer(model.Config);
        var gen = new TokenGenerator(model, fixtureTokenizer);
        var prompt = new[] { 2, 100, 200, 300 };
        var cached = gen.Generate([prompt], new GenerationOptions { MaxNewTokens = 8, StopAtEos = false })[0];
        Assert.Equal(UncachedGreedy(model, prompt, 8), cached);
    }

    /// <summary>The fixture has no tokenizer: ids only, with its config's special ids.</summary>
    private sealed class FixedIdsTokenizer(OptConfig config) : ITextTokenizer
    {
        public string Kind => "ids";
        public int VocabSize => config.VocabSize;
        public int BosId => config.BosTokenId;
        public int EosId => config.EosTokenId;
        public int PadId => config.PadTokenId;
        public IReadOnlyList<int> Encode(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        public string Decode(IEnumerable<int> ids) => string.Join(' ', ids);
        public int CountTokens(string text) => Encode(text).Count;
        public void Save(string directory) => throw new NotSupportedException();
    }
}
