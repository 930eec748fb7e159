using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Tests.Inference;
using SentenceVae.Text;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Tests.Modules;

/// <summary>
/// The OPT layers' decode step outside libtorch (<see cref="OptLayerKernel"/> through <see cref="DecodeKernels"/>):
/// the logits and the cache it writes are libtorch's, for pre- and post-norm layers, one and two rows at
/// different lengths, one and two threads, the vector loops and the scalar fallback.
/// </summary>
[Collection(KernelCollection.Name)]
public class OptLayerKernelTests
{
    [Theory]
    [InlineData(true, 1, 1, true, true)]
    [InlineData(true, 2, 2, true, true)]
    [InlineData(false, 2, 2, true, true)]       // post-norm, as OPT-350M
    [InlineData(true, 2, 1, true, false)]       // no biases, norms without weights
    [InlineData(true, 2, 2, false, true)]       // the scalar fallback forced
    [InlineData(true, 8, 2, true, true)]        // the most rows a step takes through the kernels
    public void TwoStepsThroughTheLayerKernelsGiveLibtorchsLogits(bool preNorm, int rows, int threads, bool vectorized, bool affine)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(3);
        using var model = new OptForCausalLm(new OptConfig
        {
            VocabSize = 90, HiddenSize = 64, NumHiddenLayers = 2, FfnDim = 96, NumAttentionHeads = 4, MaxPositionEmbeddings = 64,
            DoLayerNormBefore = preNorm, EnableBias = affine, LayerNormElementwiseAffine = affine, Dropout = 0,
        });
        model.eval();
        if (!affine) OptNormsAndBiasesMustBeAbsent(model);
        using var head = model.NewDecodingHead();
        var byLibtorch = model.NewSlotCache(rows, 48, CPU);
        var byKernels = model.NewSlotCache(rows, 48, CPU);
        for (int r = 0; r < rows; r++)                                     // the same random past, rows at different lengths
        {
            manual_seed(10 + r);
            byLibtorch.FillRandom(r, 5 + 4 * r);
            manual_seed(10 + r);
            byKernels.FillRandom(r, 5 + 4 * r);
        }
        var kernels = new DecodeKernels(WeightFormat.Float32, threads);
        bool before = DecodeLinear.Vectorized;
        try
        {
            DecodeLinear.Vectorized = vectorized && before;
            for (int s = 0; s < 2; s++)                                    // the second step reads what the first wrote
            {
                var ids = randint(0, 90, new long[] { rows, 1 });
                var stepA = byLibtorch.Step(rows);
                var expected = model.Step(ids, stepA, head);
                stepA.Commit();
                Tensor actual;
                using (kernels.Use())
                {
                    var stepB = byKernels.Step(rows);
                    actual = model.Step(ids, stepB, head);
                    stepB.Commit();
                }
                Assert.Equal(expected.shape, actual.shape);
                Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-4), $"step {s}: max difference {(actual - expected).abs().max().item<float>()}");
            }
        }
        finally { DecodeLinear.Vectorized = before; }
        Assert.Equal(0, kernels.CopiedBytes);                             // fp32 kernels read the model's own weights
        Assert.True(kernels.PackedBytes > 90L * 64 * sizeof(float));       // and were used by the layers, not only the vocabulary head
    }

    private static void OptNormsAndBiasesMustBeAbsent(OptForCausalLm model) =>
        Assert.DoesNotContain(model.named_parameters(), p => p.name.Contains(".layers.") && (p.name.EndsWith(".bias") || p.name.Contains("layer_norm")));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AnEngineOnLayerKernelsWritesWhatLibtorchWritesForOneAndTwoRows(bool preNorm)
    {
        using var scope = NewDisposeScope();
        using var lm = TokenGeneratorTests.TinyCompactLm(7, preNorm);
        var tok = TextTokenizers.Compact;
        var gen = new TokenGenerator(lm, tok);
        var prompts = new[] { "Mr. Darcy bowed.", "It was a truth universally" }.Select(gen.PromptIds).ToList();
        foreach (int n in new[] { 1, 2 })
        {
            List<string> Tokens(WeightFormat? weights)
            {
                var rows = prompts.Take(n).Select(p => (DecodeRow)TokenGenerator.Row(p, new GenerationOptions { MaxNewTokens = 12, StopAtEos = false })).ToList();
                using var engine = new TokenEngine(lm, tok.EosId, n, weights: weights);
                var written = EngineRuns.Written(EngineRuns.ToEnd(engine, rows), rows).Select(ids => string.Join(",", ids.SelectMany(i => i))).ToList();
                Assert.Equal(weights is not null, engine.KernelWeightBytes > (long)lm.Config.VocabSize * lm.Config.HiddenSize * sizeof(float));   // the layers too, not only the head
                return written;
            }
            Assert.Equal(Tokens(null), Tokens(WeightFormat.Float32));
        }
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(2, false)]                      // the scalar fallback forced
    public void TwoSentenceDecoderStepsThroughTheLayerKernelsGiveLibtorchsLogits(int rows, bool vectorized)
    {
        // Self-attention over the rows' decoder slots, cross-attention to memories of different lengths (masked), FFN, post-norm.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var sllm = SentenceLlmTests.Tiny(29, SentenceLlmTests.RichConfig());
        sllm.eval();
        var decoder = sllm.Svae.Decoder;
        var config = sllm.Config.Svae;
        int hs = config.HiddenSize / config.NumAttentionHeads, slots = 6;
        var byLibtorch = new SlotKvCache(decoder.NumLayers, rows, config.NumAttentionHeads, config.MaxSeqLen, hs, ScalarType.Float32, CPU);
        var byKernels = new SlotKvCache(decoder.NumLayers, rows, config.NumAttentionHeads, config.MaxSeqLen, hs, ScalarType.Float32, CPU);
        for (int r = 0; r < rows; r++)
        {
            manual_seed(40 + r);
            byLibtorch.FillRandom(r, 2 + 3 * r);
            manual_seed(40 + r);
            byKernels.FillRandom(r, 2 + 3 * r);
        }
        var memory = decoder.MemoryKeysValues(randn(rows, slots, config.HiddenSize));
        var mask = SlotKvCache.SlotStep.AdditiveMask(Enumerable.Range(0, rows).Select(r => slots - 2 * r).ToArray(), slots, CPU);
        var positions = decoder.PositionTable(CPU);
        using var head = decoder.NewDecodingHead();
        var kernels = new DecodeKernels(WeightFormat.Float32, 2);
        bool before = DecodeLinear.Vectorized;
        try
        {
            DecodeLinear.Vectorized = vectorized && before;
            for (int s = 0; s < 2; s++)
            {
                var ids = randint(0, config.VocabSize, new long[] { rows, 1 });
                var stepA = byLibtorch.Step(rows);
                var expected = decoder.Step(ids, memory, mask, stepA, positions, head);
                stepA.Commit();
                Tensor actual;
                using (kernels.Use())
                {
                    var stepB = byKernels.Step(rows);
                    actual = decoder.Step(ids, memory, mask, stepB, positions, head);
                    stepB.Commit();
                }
                Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-4), $"step {s}: max difference {(actual - expected).abs().max().item<float>()}");
            }
        }
        finally { DecodeLinear.Vectorized = before; }
        Assert.True(kernels.PackedBytes > (long)config.VocabSize * config.HiddenSize * sizeof(float));   // the layers went through them, not only the head
    }

    [Fact]
    public void ASentenceEngineOnKernelsWritesWhatLibtorchWritesForOneAndTwoRows()
    {
        // One or two rows: the decoder pass, the encoder's whole pieces, the backbone's OPT layers and the memory all go through the kernels.
        using var scope = NewDisposeScope();
        using var sllm = SentenceLlmTests.Tiny(23, SentenceLlmTests.RichConfig());
        var rng = new Random(5);
        var prompts = Enumerable.Range(0, 2).Select(i => SentenceLlmTests.RandomPieces(rng, 2 + i)).ToList();
        foreach (int n in new[] { 1, 2 })
        {
            List<string> Pieces(WeightFormat? weights)
            {
                var rows = prompts.Take(n).Select(p => (DecodeRow)new PieceRow(p) { IgnoreStop = true, MaxPieces = 4, Sampling = new GenerationOptions { MaxNewTokens = 6 } }).ToList();
                using var engine = new SentenceEngine(sllm, n, weights: weights);
                var written = EngineRuns.Written(EngineRuns.ToEnd(engine, rows), rows).Select(pieces => string.Join("|", pieces.Select(p => string.Join(",", p)))).ToList();
                Assert.Equal(weights is not null, engine.KernelWeightBytes >= EngineTiming.ParameterBytes(sllm.Svae.Encoder.parameters()) / 2);   // the encoder went through them too
                return written;
            }
            Assert.Equal(Pieces(null), Pieces(WeightFormat.Float32));
        }
    }

    [Fact]
    public void AnOptForwardPassNeverGoesThroughTheKernelsEvenInsideAStepScope()
    {
        // The kernel path is chosen by the engines' step methods (the layer stack's Step), not inside the forward pass training uses.
        using var scope = NewDisposeScope();
        using var model = TokenGeneratorTests.TinyCompactLm(3);
        model.eval();
        var kernels = new DecodeKernels(WeightFormat.Float32, 1);
        using (no_grad())
        using (kernels.Use())
            model.forward(tensor(new long[] { 2, 40 }, new long[] { 1, 2 }), ones(1, 2, dtype: ScalarType.Int64));   // two rows: few enough for a kernel
        Assert.Equal(0, kernels.PackedBytes);
    }

    [Fact]
    public void TheSentenceVaesForwardPassNeverGoesThroughTheKernelsEvenInsideAStepScope()
    {
        // Only a step that passes its kernels scope as the projection (the engine's piece work) puts the encoder's projections on them.
        using var scope = NewDisposeScope();
        using var sllm = SentenceLlmTests.Tiny(23, SentenceLlmTests.RichConfig());
        sllm.eval();
        var codec = new SentenceCodec(sllm.Svae);
        var pieces = SentenceLlmTests.RandomPieces(new Random(4), 2);
        var kernels = new DecodeKernels(WeightFormat.Float32, 1);
        using (no_grad())
        using (var step = kernels.Use(rows: 64))
        {
            var plain = codec.EncodeWithStates(pieces).Vectors;
            sllm.Svae.Decoder.MemoryKeysValues(plain);
            Assert.Equal(0, kernels.PackedBytes);                                       // forward passes: libtorch, even inside the scope
            var routed = codec.EncodeWithStates(pieces, step).Vectors;
            long projections = sllm.Svae.Encoder.named_parameters().Where(p => p.parameter.dim() == 2 && p.name != "embed_token.weight").Sum(p => p.parameter.numel() * sizeof(float));
            Assert.Equal(projections, kernels.PackedBytes);                              // the step's own call: every encoder projection on the kernels
            Assert.True(routed.allclose(plain, rtol: 1e-4, atol: 1e-4));
        }
    }

    [Fact]
    public void LibtorchRunsOnOneThreadFromAScopesFirstKernelCallToItsEnd()
    {
        using var scope = NewDisposeScope();
        int before = get_num_threads();
        try
        {
            set_num_threads(2);
            var kernels = new DecodeKernels(WeightFormat.Float32);
            Assert.Equal(2, kernels.Threads);                               // as many as libtorch had
            using var head = new DecodingHead(randn(40, 16), null);
            using (kernels.Use())
            {
                head.Logits(randn(DecodeKernels.KernelRows + 1, 16));        // too many rows: libtorch, threads untouched
                Assert.Equal(2, get_num_threads());
                head.Logits(randn(1, 16));                                   // one row: the kernel
                Assert.Equal(1, get_num_threads());
            }
            Assert.Equal(2, get_num_threads());
        }
        finally { set_num_threads(before); }
    }
}
