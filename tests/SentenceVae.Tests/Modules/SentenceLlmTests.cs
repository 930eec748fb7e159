using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Modules;

public class SentenceLlmTests
{
    internal static SentenceLlmConfig TinyConfig(bool startVector = true, int vocab = 300) => new()
    {
        UseStartVector = startVector,
        Svae = new SentenceVaeConfig { HiddenSize = 32, NumAttentionHeads = 4, NumHiddenLayers = 1, VocabSize = vocab, MaxSeqLen = 20, Dropout = 0, BosId = 2, EosId = 3, PadId = 1 },
        Backbone = new OptConfig { VocabSize = vocab, HiddenSize = 32, NumHiddenLayers = 2, FfnDim = 64, NumAttentionHeads = 4, MaxPositionEmbeddings = 64, Dropout = 0 },
    };

    /// <summary>The richer layout: k memory vectors, the previous piece's states, a wider backbone, tied embeddings.</summary>
    internal static SentenceLlmConfig RichConfig() => TinyConfig() with
    {
        MemoryVectors = 3,
        ReadPreviousPiece = true,
        Svae = TinyConfig().Svae with { TieWordEmbeddings = true },
        Backbone = TinyConfig().Backbone with { HiddenSize = 48, FfnDim = 96 },
    };

    internal static SentenceLlm Tiny(int seed, bool startVector = true) => Tiny(seed, TinyConfig(startVector));

    internal static SentenceLlm Tiny(int seed, SentenceLlmConfig config)
    {
        manual_seed(seed);
        var model = new SentenceLlm(config);
        model.eval();
        return model;
    }

    internal static List<int[]> RandomPieces(Random rng, int count) =>
        Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 1 + rng.Next(8)).Select(_ => 4 + rng.Next(290)).ToArray()).ToList();

    /// <summary>Hidden states, stop logits and decoder logits (predicting each piece from the position before it) of one document.</summary>
    private static (Tensor Hidden, Tensor Stop, List<Tensor> Decoder) Run(SentenceLlm model, List<int[]> pieces, bool withMask = true)
    {
        var codec = new SentenceCodec(model.Svae);
        var vectors = cat([model.StartVectors(1), codec.Encode(pieces).transpose(0, 1)], 1);        // (1, 1+n, C)
        var mask = ones(1, vectors.shape[1], dtype: ScalarType.Int64);
        var hidden = withMask ? model.Backbone(vectors, mask) : UnmaskedBackbone(model, vectors);
        var decoder = new List<Tensor>();
        for (int i = 0; i < pieces.Count; i++)
        {
            var (ids, m) = codec.Batch([pieces[i]]);
            decoder.Add(model.Svae.Decoder.forward(ids, hidden.narrow(1, i, 1), m));                 // position i writes piece i
        }
        return (hidden[0], model.StopLogits(hidden)[0], decoder);
    }

    /// <summary>The reference's call: the same layers with no attention mask at all.</summary>
    private static Tensor UnmaskedBackbone(SentenceLlm model, Tensor vectors)
    {
        var zeroMask = zeros(1, 1, vectors.shape[1], vectors.shape[1]);
        var layers = model.named_children().Single(c => c.name == "llm_layers").module;
        var pe = (TorchSharp.Modules.Embedding)model.named_children().Single(c => c.name == "llm_pe").module;
        var x = vectors + pe.forward(arange(vectors.shape[1]).unsqueeze(0) + OptLayers.PositionOffset);
        int i = 0;
        foreach (var (_, layer) in layers.named_children()) x = ((OptDecoderLayer)layer).forward(x, zeroMask, null, i++);
        return x;
    }

    [Fact]
    public void ChangingLaterPiecesChangesNothingAtEarlierPositions()
    {
        using var scope = NewDisposeScope();
        using var model = Tiny(21);
        using var noGrad = no_grad();
        var rng = new Random(3);
        var original = RandomPieces(rng, 10);
        const int k = 4;                                   // positions 0..k see the start vector and pieces 0..k-1
        var changed = original.Take(k).Concat(RandomPieces(rng, 6)).ToList();

        // Equal up to float rounding (the encoder batches differ in padding, so sums run in another order).
        const float rounding = 1e-5f;
        var a = Run(model, original);
        var b = Run(model, changed);
        Assert.InRange((a.Hidden.narrow(0, 0, k + 1) - b.Hidden.narrow(0, 0, k + 1)).abs().max().item<float>(), 0, rounding);
        Assert.InRange((a.Stop.narrow(0, 0, k + 1) - b.Stop.narrow(0, 0, k + 1)).abs().max().item<float>(), 0, rounding);
        for (int i = 0; i < k; i++) Assert.InRange((a.Decoder[i] - b.Decoder[i]).abs().max().item<float>(), 0, rounding);
        Assert.True((a.Hidden.narrow(0, k + 1, 1) - b.Hidden.narrow(0, k + 1, 1)).abs().max().item<float>() > 1e-3, "later positions must see the change");

        // The reference's unmasked call leaks: the same change moves earlier positions.
        var leakA = Run(model, original, withMask: false);
        var leakB = Run(model, changed, withMask: false);
        Assert.True((leakA.Hidden.narrow(0, 0, k + 1) - leakB.Hidden.narrow(0, 0, k + 1)).abs().max().item<float>() > 1e-3);
    }

    /// <summary>Scores of one document window (pieces 0..n-1) scoring pieces from <paramref name="firstTarget"/> on.</summary>
    private static SentenceLlmLoss Score(SentenceLlm model, List<int[]> window, bool ends, int firstTarget = 0)
    {
        var (ids, mask) = new SentenceCodec(model.Svae).Batch(window);
        using var noGrad = no_grad();
        return model.forward(ids.unsqueeze(0), mask.unsqueeze(0), [new PieceWindowLayout(window.Count, true, ends, firstTarget)]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ABatchThatPredictsNothingScoresZeroAndStillTrains(bool rich)
    {
        // A one-piece window from a document's middle is context only: nothing to predict, no stop decision.
        using var scope = NewDisposeScope();
        using var model = rich ? Tiny(24, RichConfig()) : Tiny(24);
        model.train();
        var (ids, mask) = new SentenceCodec(model.Svae).Batch(RandomPieces(new Random(6), 1));
        var scores = model.forward(ids.unsqueeze(0), mask.unsqueeze(0), [new PieceWindowLayout(1, false, false)]);
        Assert.Equal(0, scores.Tokens);
        Assert.Equal(0, scores.Stops);
        Assert.Equal(0f, scores.TokenNll.item<float>() + scores.StopNll.item<float>());
        Assert.Equal([0L, model.Config.Svae.VocabSize], scores.TokenLogits.shape);
        scores.Objective.backward();                                       // a step on it changes nothing, and does not fail
        var reached = model.parameters().Where(p => p.grad is not null).ToList();
        Assert.NotEmpty(reached);                                           // the backward pass ran through the model
        Assert.All(reached, p => Assert.Equal(0f, p.grad!.abs().max().item<float>()));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TokenLogitsComeInThePlansOrderWhateverTheBatch(bool rich)
    {
        // Pieces of many lengths in one batch are decoded in length groups; the logits come back in the plan's order:
        // each window's own logits, window after window, each predicted piece's tokens then its EOS.
        using var scope = NewDisposeScope();
        using var model = rich ? Tiny(23, RichConfig()) : Tiny(23);
        var rng = new Random(5);
        var windows = new[] { 6, 3, 5 }.Select(n => RandomPieces(rng, n)).ToList();
        var (ids, mask) = new SentenceCodec(model.Svae).Windows(windows);
        using var noGrad = no_grad();
        var together = model.forward(ids, mask, windows.Select(w => new PieceWindowLayout(w.Count, true, true)).ToList());
        var alone = windows.Select(w => Score(model, w, ends: true)).ToList();
        var expected = cat(alone.Select(a => a.TokenLogits).ToList(), 0);
        Assert.Equal(expected.shape, together.TokenLogits.shape);
        Assert.True((expected - together.TokenLogits).abs().max().item<float>() < 1e-4);
        Assert.True((cat(alone.Select(a => a.StopLogits).ToList(), 0) - together.StopLogits).abs().max().item<float>() < 1e-4);
        // In that order they score each piece's own tokens then EOS: the NLL of those targets is the loss's.
        var targets = tensor(windows.SelectMany(w => w.SelectMany(p => p.Append(model.Config.Svae.EosId))).Select(i => (long)i).ToArray());
        var nll = -together.TokenLogits.log_softmax(-1).gather(1, targets.unsqueeze(1)).sum().item<float>();
        Assert.Equal(together.TokenNll.item<float>(), nll, 2);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrainingLossIsCausalToo(bool rich)
    {
        // The terms of pieces 0..k-1 (full window minus the window scored from piece k on) must not move
        // when pieces k.. change; the terms of the later pieces must.
        using var scope = NewDisposeScope();
        using var model = rich ? Tiny(22, RichConfig()) : Tiny(22);
        var rng = new Random(4);
        var pieces = RandomPieces(rng, 8);
        const int k = 4;
        var changed = pieces.Take(k).Concat(RandomPieces(rng, 4)).ToList();
        double Early(List<int[]> window)
        {
            var all = Score(model, window, ends: false);
            var late = Score(model, window, ends: false, firstTarget: k);
            return all.TokenNll.item<float>() + all.StopNll.item<float>() - late.TokenNll.item<float>() - late.StopNll.item<float>();
        }
        double Late(List<int[]> window)
        {
            var late = Score(model, window, ends: false, firstTarget: k);
            return late.TokenNll.item<float>() + late.StopNll.item<float>();
        }
        Assert.True(Early(pieces) > 1, "the early pieces are scored");
        Assert.Equal(Early(pieces), Early(changed), 3);
        Assert.True(Math.Abs(Late(pieces) - Late(changed)) > 1e-2, "the later pieces' terms do change");
        var full = Score(model, pieces, ends: true);
        Assert.Equal(pieces.Sum(p => p.Length + 1), full.Tokens);
        Assert.Equal(pieces.Count + 1, full.Stops);                      // a continue before each piece, stop after the last
    }

    [Fact]
    public void EvaluationScoresWhatTrainingMinimises()
    {
        // Cross-entropy training minimises (token NLL + stop NLL) / tokens; the evaluator reports the same number for the same document.
        using var scope = NewDisposeScope();
        using var model = Tiny(28, RichConfig());
        var tok = new IdsTokenizer();
        var rng = new Random(8);
        var pieces = RandomPieces(rng, 6);
        string text = string.Concat(pieces.Select(p => string.Join(' ', p) + " . "));
        var split = model.Config.Svae.Splitter(tok).Split(text).Select(p => tok.Encode(p).ToArray()).ToList();
        Assert.Equal(pieces.Count, split.Count);
        var scores = Score(model, split, ends: true);
        var result = SentenceVae.Evaluation.SllmEvaluator.Evaluate(model, tok, [text]);
        Assert.Equal(scores.Objective.item<float>(), result.Loss, 4);
        Assert.Equal(scores.Tokens, result.Tokens);
        // …and that number is the real thing: every token and EOS scored, an untrained model near ln(300) nats
        // per token, a stop decision for every piece and the end, and the bytes of exactly this text.
        Assert.Equal(split.Sum(p => p.Length + 1), result.Tokens);
        Assert.InRange(result.Loss, 0.7 * Math.Log(300), 1.5 * Math.Log(300));
        Assert.InRange(scores.StopNll.item<float>(), 0.3 * (pieces.Count + 1), 3.0 * (pieces.Count + 1));
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), result.Bytes);
        Assert.Equal(result.Loss * result.Tokens / Math.Log(2) / result.Bytes, result.BitsPerByte!.Value, 6);
    }

    [Fact]
    public void ReferenceSllmStateDictLoads()
    {
        using var scope = NewDisposeScope();
        using var source = Tiny(23, startVector: false);
        var state = source.state_dict();
        foreach (var key in new[] { "svae.encoder.embed_token.weight", "svae.decoder.linear.weight", "llm_pe.weight",
                     "llm_layers.0.self_attn.q_proj.weight", "llm_layers.1.final_layer_norm.bias", "fc.weight", "fc.bias" })
            Assert.Contains(key, state.Keys);
        Assert.DoesNotContain(state.Keys, k => k.StartsWith("start_vector"));

        string dir = Directory.CreateTempSubdirectory("svae-sllm").FullName;
        try
        {
            // A bare .pth in the reference layout, as torch.save(model.state_dict()) writes it.
            string pth = Path.Combine(dir, "sllm.pth");
            PyTorchPickler.PickleStateDict(pth, state.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
            string config = Path.Combine(dir, "config.json");
            source.Config.Save(config);
            using var loaded = SentenceLlmCheckpoint.Load(config, pth);
            using var noGrad = no_grad();
            var vectors = randn(2, 5, 32);
            var mask = ones(2, 5, dtype: ScalarType.Int64);
            Assert.Equal(0f, (source.Backbone(vectors, mask) - loaded.Backbone(vectors, mask)).abs().max().item<float>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void CachedGenerationEqualsUncached(bool startVector, bool rich)
    {
        using var scope = NewDisposeScope();
        using var model = rich ? Tiny(24, RichConfig()) : Tiny(24, startVector);
        var tok = new IdsTokenizer();
        var generator = new SentenceLlmGenerator(model, tok);
        var rng = new Random(5);
        var prompts = new List<List<int[]>> { RandomPieces(rng, 3), RandomPieces(rng, 1), RandomPieces(rng, 5) };
        var options = new SentenceGenerationOptions { MaxPieces = 6, Tokens = new GenerationOptions { MaxNewTokens = 10 }, IgnoreStop = true };
        Assert.Equal(18, CachedEqualsUncachedAndAlone(generator, prompts, options).Count);
    }

    /// <summary>The pieces each prompt's row writes when all run in one engine: (row, index, ids), by row and index.</summary>
    internal static List<(int Row, int Index, string Ids)> Pieces(SentenceLlmGenerator generator, IReadOnlyList<List<int[]>> prompts, SentenceGenerationOptions options, bool useCache = true)
    {
        var rows = prompts.Select(p => SentenceLlmGenerator.Row(p, options)).ToList();
        var events = generator.Run(rows, reprefill: !useCache).SelectMany(s => s).Where(e => e.End is null).ToList();
        return rows.SelectMany((row, r) => events.Where(e => e.Row == row).Select((e, i) => (r, i, string.Join(",", e.Ids)))).ToList();
    }

    /// <summary>Asserts the cached loop writes what the uncached one does and each batched row what it writes alone; returns the pieces (row, index, ids).</summary>
    private static List<(int Row, int Index, string Ids)> CachedEqualsUncachedAndAlone(SentenceLlmGenerator generator, List<List<int[]>> prompts, SentenceGenerationOptions options)
    {
        List<(int, int, string)> Run(IReadOnlyList<List<int[]>> batch, bool useCache) => Pieces(generator, batch, options, useCache);
        var cached = Run(prompts, true);
        Assert.Equal(Run(prompts, false), cached);
        for (int r = 0; r < prompts.Count; r++)
            Assert.Equal(cached.Where(c => c.Item1 == r).Select(c => (0, c.Item2, c.Item3)), Run([prompts[r]], true));
        return cached;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PastItsTrainedContextGenerationSlidesTheSameCachedUncachedAndAlone(bool rich)
    {
        // Trained on 4 pieces: a row's view restarts from its last 2 pieces once it would hold 5. Rows of
        // different lengths slide at different steps; the cached loop (incremental steps and re-prefills)
        // equals the uncached one (every view rebuilt each step) and each row equals itself alone.
        using var scope = NewDisposeScope();
        var config = (rich ? RichConfig() : TinyConfig()) with { TrainedContext = 4 };
        using var model = Tiny(31, config);
        var generator = new SentenceLlmGenerator(model, new IdsTokenizer());
        var rng = new Random(8);
        var prompts = new List<List<int[]>> { RandomPieces(rng, 6), RandomPieces(rng, 1), RandomPieces(rng, 3) };
        var options = new SentenceGenerationOptions { MaxPieces = 9, Tokens = new GenerationOptions { MaxNewTokens = 8 }, IgnoreStop = true };
        var cached = CachedEqualsUncachedAndAlone(generator, prompts, options);
        Assert.Equal(27, cached.Count);
        // The window mattered: the same weights with every position in view write something else (the tiny
        // rich model writes one token over and over whatever it sees, so only the plain one can show it).
        if (rich) return;
        using var full = Tiny(31, config with { TrainedContext = null });
        var unwindowed = Pieces(new SentenceLlmGenerator(full, new IdsTokenizer()), prompts, options);
        Assert.NotEqual(unwindowed, cached);
    }

    [Fact]
    public void RowsStopIndependently()
    {
        // The stop head is set to say "stop" exactly when the backbone output's first feature is positive,
        // so rows stop at different steps depending on their text.
        using var scope = NewDisposeScope();
        using var model = Tiny(25);
        var fc = model.named_modules().Single(m => m.name == "fc").module;
        using (no_grad())
        {
            var weight = fc.named_parameters().Single(p => p.name == "weight").parameter;
            var bias = fc.named_parameters().Single(p => p.name == "bias").parameter;
            weight.zero_(); bias.zero_();
            weight[StopHead.Stop, 0] = tensor(50f);
        }
        var generator = new SentenceLlmGenerator(model, new IdsTokenizer());
        var options = new SentenceGenerationOptions { MaxPieces = 6, Tokens = new GenerationOptions { MaxNewTokens = 6 } };
        var rng = new Random(6);
        var prompts = Enumerable.Range(0, 8).Select(i => RandomPieces(rng, 1 + i % 3)).ToList();
        var rows = prompts.Select(p => SentenceLlmGenerator.Row(p, options)).ToList();
        var events = generator.Run(rows).SelectMany(s => s).ToList();
        var counts = rows.Select(r => events.Count(e => e.Row == r && e.End is null)).ToList();
        Assert.True(counts.Sum() > 0, "some row generated something");
        Assert.True(counts.Distinct().Count() > 1, $"rows stopped at different steps ({string.Join(",", counts)})");
        for (int r = 0; r < prompts.Count; r++)
        {
            var mine = events.Where(e => e.Row == rows[r]).ToList();
            Assert.Single(mine, e => e.End is not null);
            Assert.NotNull(mine[^1].End);                                   // once a row stops it never comes back
            Assert.Equal(Pieces(generator, [prompts[r]], options).Count, counts[r]);   // and it stops where it would alone
        }
    }

    [Fact]
    public void TiedEmbeddingsAreSavedOnceAndLoadBack()
    {
        using var scope = NewDisposeScope();
        using var model = Tiny(29, RichConfig());
        string dir = Directory.CreateTempSubdirectory("svae-tied").FullName;
        try
        {
            SentenceLlmCheckpoint.Save(model, dir, new IdsTokenizerWithFiles());
            var keys = SentenceVaeCheckpoint.ReadStateDict(Path.Combine(dir, "model.safetensors")).Keys.ToList();
            Assert.Contains("svae.encoder.embed_token.weight", keys);
            Assert.DoesNotContain("svae.decoder.linear.weight", keys);
            Assert.DoesNotContain("svae.decoder.embed_token.weight", keys);
            Assert.Contains("to_memory.weight", keys);
            Assert.Contains("in_proj.weight", keys);
            using var loaded = SentenceLlmCheckpoint.Load(dir);
            var tok = new IdsTokenizer();
            var options = new SentenceGenerationOptions { MaxPieces = 3, Tokens = new GenerationOptions { MaxNewTokens = 8 }, IgnoreStop = true };
            var prompt = RandomPieces(new Random(9), 3);
            var a = Pieces(new SentenceLlmGenerator(model, tok), [prompt], options).Select(p => p.Ids).ToList();
            var b = Pieces(new SentenceLlmGenerator(loaded, tok), [prompt], options).Select(p => p.Ids).ToList();
            Assert.Equal(3, a.Count);
            Assert.Equal(a, b);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AFrozenSentenceVaeIsShippedOnceAndSharedByReference()
    {
        using var scope = NewDisposeScope();
        using var model = Tiny(26);
        string dir = Directory.CreateTempSubdirectory("svae-share").FullName;
        try
        {
            var tok = new IdsTokenizerWithFiles();
            string vaeDir = Path.Combine(dir, "vae"), sllmDir = Path.Combine(dir, "sllm");
            SentenceVaeCheckpoint.Save(model.Svae, vaeDir, null, ScalarType.Float16);
            SentenceLlmCheckpoint.SaveSharingSvae(model, sllmDir, vaeDir, tok, ScalarType.Float16);
            Assert.DoesNotContain(SentenceVaeCheckpoint.ReadStateDict(Path.Combine(sllmDir, "model.safetensors")).Keys, k => k.StartsWith("svae."));
            Assert.Equal("../vae", SentenceLlmConfig.Load(Path.Combine(sllmDir, "config.json")).SvaePath);
            using var loaded = SentenceLlmCheckpoint.Load(sllmDir);
            using var noGrad = no_grad();
            var ids = tensor(new long[] { 2, 5, 6, 7 }, new long[] { 1, 4 });
            var mask = ones(1, 4, dtype: ScalarType.Int64);
            var expected = model.Svae.Encoder.forward(ids, mask);
            Assert.True((loaded.Svae.Encoder.forward(ids, mask) - expected).abs().max().item<float>() < 1e-2);   // fp16 storage

            // A SentenceVAE that is not the model's is refused.
            using var other = Tiny(27);
            Assert.Throws<CheckpointException>(() => SentenceLlmCheckpoint.SaveSharingSvae(other, Path.Combine(dir, "other"), vaeDir, tok, ScalarType.Float16));
        }
        finally { Directory.Delete(dir, true); }
    }

    private sealed class IdsTokenizerWithFiles : ITextTokenizer
    {
        private readonly IdsTokenizer ids = new();
        public string Kind => ids.Kind;
        public int VocabSize => ids.VocabSize;
        public int BosId => ids.BosId;
        public int EosId => ids.EosId;
        public int PadId => ids.PadId;
        public IReadOnlyList<int> Encode(string text) => ids.Encode(text);
        public string Decode(IEnumerable<int> list) => ids.Decode(list);
        public int CountTokens(string text) => ids.CountTokens(text);
        public void Save(string directory) => File.WriteAllText(Path.Combine(directory, "ids-tokenizer.txt"), "ids\n");
    }

    /// <summary>Ids as text ("5 17 3"), for models over a made-up vocabulary; "." is id 299, so text can be split into pieces.</summary>
    internal sealed class IdsTokenizer : ITextTokenizer
    {
        private const int Period = 299;
        public string Kind => "ids";
        public int VocabSize => 300;
        public int BosId => 2;
        public int EosId => 3;
        public int PadId => 1;
        public IReadOnlyList<int> Encode(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => w == "." ? Period : int.Parse(w)).ToList();
        public string Decode(IEnumerable<int> ids) => string.Join(' ', ids.Select(id => id == Period ? "." : id.ToString()));
        public int CountTokens(string text) => Encode(text).Count;
        public void Save(string directory) => throw new NotSupportedException();
    }
}
