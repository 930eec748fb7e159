using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Tests.Inference;
using SentenceVae.Text;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Tests.Modules;

/// <summary>The decode kernel: libtorch's linear to float rounding, for any shape, row count, thread count, and in the scalar fallback.</summary>
[Collection(KernelCollection.Name)]
public class DecodeLinearTests
{
    [Theory]
    [InlineData(64, 256, 1, 1, true)]
    [InlineData(257, 64, 3, 2, true)]          // an odd number of outputs, two threads
    [InlineData(130, 72, 8, 2, true)]
    [InlineData(70, 64, 10, 2, true)]          // blocks of four (AVX-512) or two weight rows × four input rows, and rows and outputs left over
    [InlineData(64, 128, 2, 1, true)]          // the two-row loop
    [InlineData(33, 29, 5, 1, true)]           // inputs not a multiple of 8: the scalar loop
    [InlineData(130, 72, 8, 2, false)]         // the scalar fallback forced
    public void Float32WeightsGiveLibtorchsLinear(int outputs, int inputs, int rows, int threads, bool vectorized)
    {
        using var scope = NewDisposeScope();
        manual_seed(outputs + inputs);
        var weight = randn(outputs, inputs);
        var bias = randn(outputs);
        var x = randn(rows, inputs);
        bool before = DecodeLinear.Vectorized;
        try
        {
            DecodeLinear.Vectorized = vectorized && before;
            var kernel = new DecodeLinear(weight, bias, WeightFormat.Float32, threads);
            var expected = nn.functional.linear(x, weight, bias);
            var actual = kernel.Forward(x);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-4), $"max difference {(actual - expected).abs().max().item<float>()}");
        }
        finally { DecodeLinear.Vectorized = before; }
    }

    [Fact]
    public void The256And512BitLoopsAgree()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        var weight = randn(66, 96);
        var x = randn(9, 96);
        bool before = DecodeLinear.Wide;
        try
        {
            var kernel = new DecodeLinear(weight, randn(66), WeightFormat.BFloat16, 2);
            DecodeLinear.Wide = false;
            var narrow = kernel.Forward(x);
            DecodeLinear.Wide = before;
            Assert.True(kernel.Forward(x).allclose(narrow, rtol: 1e-5, atol: 1e-5));
        }
        finally { DecodeLinear.Wide = before; }
    }

    [Theory]
    [InlineData(WeightFormat.Float32)]
    [InlineData(WeightFormat.BFloat16)]
    public void FourWeightRowsAtATimeGiveWhatTwoGive(WeightFormat format)
    {
        using var scope = NewDisposeScope();
        manual_seed(13);
        var weight = randn(71, 96);                                       // 17 blocks of four per thread's share, and some left over
        var x = randn(11, 96);
        bool before = DecodeLinear.FourByFour;
        try
        {
            var kernel = new DecodeLinear(weight, randn(71), format, 2);
            DecodeLinear.FourByFour = false;
            var two = kernel.Forward(x);
            DecodeLinear.FourByFour = true;
            var four = kernel.Forward(x);
            Assert.True(four.allclose(two, rtol: 1e-5, atol: 1e-5), $"max difference {(four - two).abs().max().item<float>()}");
            var expected = nn.functional.linear(x, format == WeightFormat.BFloat16 ? weight.to(ScalarType.BFloat16).to(ScalarType.Float32) : weight, kernel.Forward(zeros(1, 96)).squeeze(0));
            Assert.True(four.allclose(expected, rtol: 1e-4, atol: 1e-4));
        }
        finally { DecodeLinear.FourByFour = before; }
    }

    [Theory]
    [InlineData(WeightFormat.Float32)]
    [InlineData(WeightFormat.BFloat16)]
    [InlineData(WeightFormat.Int8)]
    public void ChunksTakenAsThreadsComeFreeGiveWhatFixedHalvesGive(WeightFormat format)
    {
        using var scope = NewDisposeScope();
        manual_seed(14);
        var weight = randn(301, 64);                                      // 19 chunks of 16 rows, the last of 13
        var x = randn(3, 64);
        var bias = randn(301);
        bool before = DecodeLinear.Chunked;
        try
        {
            var kernel = new DecodeLinear(weight, bias, format, 2);
            DecodeLinear.Chunked = false;
            var halves = kernel.Forward(x);
            DecodeLinear.Chunked = true;
            var chunks = kernel.Forward(x);
            Assert.True(chunks.allclose(halves, 0, 0), "each output row is computed the same way, whichever thread takes it");
            var rounded = format switch
            {
                WeightFormat.BFloat16 => weight.to(ScalarType.BFloat16).to(ScalarType.Float32),
                WeightFormat.Int8 => RoundedInt8(weight),
                _ => weight,
            };
            Assert.True(chunks.allclose(nn.functional.linear(x, rounded, bias), rtol: 1e-4, atol: 1e-3), "every row of all 301 computed, the last chunk's too");
        }
        finally { DecodeLinear.Chunked = before; }

        static Tensor RoundedInt8(Tensor weight)
        {
            using var linear = nn.Linear(weight.shape[1], weight.shape[0]);
            using (no_grad()) linear.weight!.copy_(weight);
            WeightFormats.Round(linear, WeightFormat.Int8);
            return linear.weight!.detach().clone();
        }
    }

    [Fact]
    public void Fp32ReadsTheWeightsInPlaceAndProjectionsShareAnOutputBuffer()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var a = randn(24, 16);
        var b = randn(8, 16);
        var x = randn(2, 16);
        var ka = new DecodeLinear(a, null, WeightFormat.Float32, 2);
        var kb = new DecodeLinear(b, null, WeightFormat.Float32, 1);
        Assert.Equal(0, ka.CopiedBytes);
        var y = new float[2 * 32];
        var input = x.data<float>().ToArray();
        ka.Forward(input, 2, y, 0, 32);                                   // row r: [a·x_r | b·x_r]
        kb.Forward(input, 2, y, 24, 32);
        var expected = cat(new[] { nn.functional.linear(x, a), nn.functional.linear(x, b) }, 1);
        Assert.True(tensor(y, new long[] { 2, 32 }).allclose(expected, rtol: 1e-5, atol: 1e-5));
        using (no_grad()) a.mul_(2);                                       // no copy: the kernel sees the change
        Assert.True(ka.Forward(x).allclose(nn.functional.linear(x, a), rtol: 1e-5, atol: 1e-5));
        Assert.Equal(8L * 16 * 2, new DecodeLinear(b, null, WeightFormat.BFloat16).CopiedBytes);
    }

    [Fact]
    public void BFloat16RoundsAsPyTorchAndComputesWithTheRoundedWeights()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var values = cat([randn(1000) * 1e3, tensor(new[] { 0f, -0f, 1f, float.PositiveInfinity, float.NegativeInfinity, 1.00390625f, 1.01171875f })]);
        var torchBits = values.to(ScalarType.BFloat16).to(ScalarType.Float32).data<float>().ToArray();
        var ours = values.data<float>().ToArray().Select(v => BitConverter.UInt32BitsToSingle((uint)DecodeLinear.ToBFloat16(v) << 16)).ToArray();
        Assert.Equal(torchBits, ours);                                           // round to nearest even, ties included

        var weight = randn(96, 128);
        var x = randn(4, 128);
        var rounded = weight.to(ScalarType.BFloat16).to(ScalarType.Float32);
        var kernel = new DecodeLinear(weight, null, WeightFormat.BFloat16, 2);
        Assert.Equal(96L * 128 * 2, kernel.WeightBytes);
        Assert.True(kernel.Forward(x).allclose(nn.functional.linear(x, rounded), rtol: 1e-5, atol: 1e-4));
    }

    [Theory]
    [InlineData(96, 128, 1, 2, true, true, true)]      // one row, 16-bit inputs where the CPU has AVX-512BW
    [InlineData(70, 64, 10, 2, true, true, true)]      // rows in fours, and two left over
    [InlineData(96, 128, 1, 2, true, true, false)]     // one row, every weight widened to fp32 (512-bit)
    [InlineData(70, 64, 10, 2, true, true, false)]     // blocks of two weight rows × four input rows, widened
    [InlineData(70, 64, 10, 2, true, false, false)]    // the same in 256-bit
    [InlineData(64, 128, 2, 1, true, true, false)]     // the two-row loop
    [InlineData(40, 72, 3, 1, true, true, true)]       // inputs not a multiple of 32: a short last block, padded (widened)
    [InlineData(33, 29, 5, 1, true, true, true)]       // inputs not a multiple of 8: the scalar loop
    [InlineData(130, 96, 8, 2, false, true, true)]     // the scalar fallback forced
    public void Int8WeightsComputeWithTheirBlocksRoundedWeights(int outputs, int inputs, int rows, int threads, bool vectorized, bool wide, bool sixteenBit)
    {
        using var scope = NewDisposeScope();
        manual_seed(outputs * inputs);
        var weight = randn(outputs, inputs) * 0.05f;
        var bias = randn(outputs);
        var x = randn(rows, inputs);
        using var rounded = nn.Linear(inputs, outputs);
        using (no_grad()) rounded.weight!.copy_(weight);
        WeightFormats.Round(rounded, WeightFormat.Int8);                        // what an evaluation with --weights int8 scores
        var expected = nn.functional.linear(x, rounded.weight!, bias);
        Assert.True((rounded.weight! - weight).abs().max().item<float>() > 0);   // it did round
        Assert.True(((rounded.weight! - weight).abs() <= weight.abs().max() / 254 + 1e-7f).all().item<bool>());   // to half a step of the block's scale at most
        (bool v, bool w, bool s) before = (DecodeLinear.Vectorized, DecodeLinear.Wide, DecodeLinear.SixteenBitInputs);
        try
        {
            DecodeLinear.Vectorized = vectorized && before.v;
            DecodeLinear.Wide = wide && before.w;
            DecodeLinear.SixteenBitInputs = sixteenBit && before.s;
            var kernel = new DecodeLinear(weight, bias, WeightFormat.Int8, threads);
            Assert.Equal(outputs * ((inputs + 31) / 32) * 36L, kernel.WeightBytes);
            var actual = kernel.Forward(x);
            Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-4), $"max difference {(actual - expected).abs().max().item<float>()}");
        }
        finally { (DecodeLinear.Vectorized, DecodeLinear.Wide, DecodeLinear.SixteenBitInputs) = before; }
    }

    [Fact]
    public void Int8IsAWeightFormatByName()
    {
        Assert.Equal(WeightFormat.Int8, WeightFormats.Parse("int8"));
        Assert.Equal("int8", WeightFormats.Name(WeightFormat.Int8));
        Assert.Contains("int8", Assert.Throws<ArgumentException>(() => WeightFormats.Parse("q4")).Message);
    }

    [Fact]
    public void InsideAStepThatUsesKernelsTheHeadGoesThroughThemAndOutsideItDoesNot()
    {
        using var scope = NewDisposeScope();
        manual_seed(9);
        var weight = randn(300, 64);
        var bias = randn(300);
        using var head = new DecodingHead(weight, bias);
        var kernels = new DecodeKernels(WeightFormat.BFloat16);
        var x = randn(2, 64);
        var outside = head.Logits(x);
        Assert.Equal(0, kernels.PackedBytes);
        Tensor inside;
        using (kernels.Use()) inside = head.Logits(x);
        Assert.Equal(300L * 64 * 2, kernels.PackedBytes);                               // the head was packed, in bf16
        Assert.True(inside.allclose(nn.functional.linear(x, weight.to(ScalarType.BFloat16).to(ScalarType.Float32), bias), rtol: 1e-5, atol: 1e-4));
        Assert.False(inside.allclose(outside, rtol: 1e-6, atol: 1e-6));                  // not libtorch's fp32 product
        var many = randn(DecodeKernels.KernelRows + 1, 64);                            // more rows than KernelRows: libtorch, even inside
        var byLibtorch = head.Logits(many);
        using (kernels.Use()) Assert.True(head.Logits(many).allclose(byLibtorch, rtol: 0, atol: 0));
        Assert.Equal(300L * 64 * 2, kernels.PackedBytes);
    }

    [Fact]
    public void TheFloat32KernelInTheHeadWritesTheSameGreedyTextInBothEngines()
    {
        using var scope = NewDisposeScope();
        using var lm = TokenGeneratorTests.TinyCompactLm(5);
        var tok = TextTokenizers.Compact;
        var prompts = new[] { "Mr. Darcy bowed.", "It was a truth", "She smiled at him, and" }.Select(p => new TokenGenerator(lm, tok).PromptIds(p)).ToList();
        List<string> Tokens(WeightFormat? weights)
        {
            var rows = prompts.Select(p => (DecodeRow)TokenGenerator.Row(p, new GenerationOptions { MaxNewTokens = 16, StopAtEos = false })).ToList();
            return EngineRuns.Written(EngineRuns.ToEnd(new TokenEngine(lm, tok.EosId, 3, weights: weights), rows), rows)
                .Select(ids => string.Join(",", ids.SelectMany(i => i))).ToList();
        }
        Assert.Equal(Tokens(null), Tokens(WeightFormat.Float32));

        using var sllm = SentenceLlmTests.Tiny(21, SentenceLlmTests.RichConfig());
        var rng = new Random(2);
        var piecePrompts = Enumerable.Range(0, 3).Select(i => SentenceLlmTests.RandomPieces(rng, 2 + i)).ToList();
        List<string> Pieces(WeightFormat? weights)
        {
            var rows = piecePrompts.Select(p => (DecodeRow)new PieceRow(p) { IgnoreStop = true, MaxPieces = 4, Sampling = new GenerationOptions { MaxNewTokens = 6 } }).ToList();
            return EngineRuns.Written(EngineRuns.ToEnd(new SentenceEngine(sllm, 3, weights: weights), rows), rows)
                .Select(pieces => string.Join("|", pieces.Select(p => string.Join(",", p)))).ToList();
        }
        Assert.Equal(Pieces(null), Pieces(WeightFormat.Float32));
    }

    [Fact]
    public async Task AServedModelWithFp32KernelsWritesWhatLibtorchWrites()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "models", "lm-256");
        async Task<string> Complete(WeightFormat? weights)
        {
            using var service = new SentenceVae.Serving.GenerationService();
            service.Add(SentenceVae.Serving.ServedModel.Load(dir, weights: weights));
            return (await service.CompleteAsync(new SentenceVae.Serving.CompletionRequest { Model = "lm-256", Prompt = "It was a dark and stormy night.", MaxTokens = 24 })).Text;
        }
        string plain = await Complete(null);
        Assert.Equal(plain, await Complete(WeightFormat.Float32));
        Assert.False(string.IsNullOrEmpty(await Complete(WeightFormat.BFloat16)));
        Assert.False(string.IsNullOrEmpty(await Complete(WeightFormat.Int8)));
    }

    [Theory]
    [InlineData(WeightFormat.BFloat16)]
    [InlineData(WeightFormat.Int8)]
    public void AnOptStepInSmallerWeightsStaysCloseToLibtorchs(WeightFormat format)
    {
        // Logits of a trained model's token step after a prefill: the kernels in bf16/int8, over the 16-bit cache an engine
        // keeps beside them, differ from fp32 libtorch over an fp32 cache by little, and do differ.
        using var scope = NewDisposeScope();
        using var lm = SentenceVae.Checkpoints.HuggingFaceCheckpoint.LoadOpt(Path.Combine(TestPaths.RepoRoot, "models", "lm-256"));
        lm.eval();
        using var head = lm.NewDecodingHead();
        Assert.Equal(ScalarType.BFloat16, WeightFormats.CacheType(format));
        var byLibtorch = lm.NewSlotCache(2, 64, CPU);
        var byKernels = lm.NewSlotCache(2, 64, CPU, WeightFormats.CacheType(format));
        using var noGrad = no_grad();
        Prefill(lm, [byLibtorch, byKernels], 30);
        var ids = tensor(new long[] { 2, 40 }, new long[] { 2, 1 });
        var kernels = new DecodeKernels(format, 2);
        var stepA = byLibtorch.Step(2);
        var expected = lm.Step(ids, stepA, head);
        Tensor actual;
        using (kernels.Use())
        {
            var stepB = byKernels.Step(2);
            actual = lm.Step(ids, stepB, head);
        }
        float difference = (actual - expected).abs().max().item<float>(), spread = expected.std().item<float>();
        Assert.InRange(difference, 1e-6f, 0.1f * spread);
        Assert.Equal(expected.argmax(-1).data<long>().ToArray(), actual.argmax(-1).data<long>().ToArray());
    }

    [Fact]
    public void ABFloat16CacheServesLibtorchStepsAndKernelStepsAlike()
    {
        // An engine's steps of more rows than the kernels take run on libtorch over the same 16-bit cache: they read it
        // widened to float32, write into it rounded, and give what the kernels' attention gives over it (fp32 weights both).
        using var scope = NewDisposeScope();
        using var lm = SentenceVae.Checkpoints.HuggingFaceCheckpoint.LoadOpt(Path.Combine(TestPaths.RepoRoot, "models", "lm-256"));
        lm.eval();
        using var head = lm.NewDecodingHead();
        using var noGrad = no_grad();
        var caches = new[] { lm.NewSlotCache(2, 64, CPU), lm.NewSlotCache(2, 64, CPU, ScalarType.BFloat16), lm.NewSlotCache(2, 64, CPU, ScalarType.BFloat16) };
        Assert.Equal(caches[0].AllocatedBytes, 2 * caches[1].AllocatedBytes);
        Prefill(lm, caches, 25);
        var ids = tensor(new long[] { 7, 40 }, new long[] { 2, 1 });
        var logits = new List<Tensor>();
        var kernels = new DecodeKernels(WeightFormat.Float32, 2);
        for (int i = 0; i < 3; i++)
        {
            using var use = i == 2 ? kernels.Use() : null;
            var step = caches[i].Step(2);
            logits.Add(lm.Step(ids, step, head));
            step.Commit();
        }
        float spread = logits[0].std().item<float>();
        Assert.InRange((logits[1] - logits[0]).abs().max().item<float>(), 1e-6f, 0.05f * spread);   // the 16-bit past moves the logits a little
        Assert.True(logits[2].allclose(logits[1], rtol: 1e-4, atol: 1e-4), $"kernels against libtorch over one cache: {(logits[2] - logits[1]).abs().max().item<float>()}");
        Assert.True(kernels.PackedBytes > 0, "the last step went through the kernels");
        Assert.Equal(26, caches[1].Length(0));
    }

    // The same prefill of `length` tokens in both slots of every cache.
    private static void Prefill(OptForCausalLm lm, SlotKvCache[] caches, int length)
    {
        using var alone = lm.NewCache();
        var prompt = arange(3, 3 + length, dtype: ScalarType.Int64).unsqueeze(0);                // (1, L)
        lm.Decoder.forward(prompt, ones_like(prompt), alone);
        foreach (var cache in caches)
            for (int slot = 0; slot < 2; slot++) cache.Load(slot, alone);
    }

    [Theory]
    [InlineData(WeightFormat.Float32, true)]
    [InlineData(WeightFormat.BFloat16, true)]
    [InlineData(WeightFormat.Int8, true)]
    [InlineData(WeightFormat.Float32, false)]          // the scalar fallback forced
    public void ProjectionsOfOneInputInOneKernelGiveEachOnesOutputsSideBySide(WeightFormat format, bool vectorized)
    {
        using var scope = NewDisposeScope();
        manual_seed(17);
        var parts = Enumerable.Range(0, 3).Select(_ => (Weight: randn(40, 96), Bias: randn(40))).ToList();
        var x = randn(5, 96);
        bool before = DecodeLinear.Vectorized;
        try
        {
            DecodeLinear.Vectorized = vectorized && before;
            var fused = new DecodeLinear(parts.Select(p => (p.Weight, (Tensor?)p.Bias)).ToList(), format, 2);
            Assert.Equal(120, fused.Out);
            Assert.Equal(format == WeightFormat.Float32 ? 0 : fused.WeightBytes, fused.CopiedBytes);      // fp32 reads each matrix in place
            var expected = cat(parts.Select(p => new DecodeLinear(p.Weight, p.Bias, format, 1).Forward(x)).ToList(), 1);
            Assert.True(fused.Forward(x).allclose(expected, rtol: 1e-5, atol: 1e-5), $"max difference {(fused.Forward(x) - expected).abs().max().item<float>()}");
            Assert.Throws<ArgumentException>(() => new DecodeLinear([(randn(40, 96), null), (randn(41, 96), null)], format));
        }
        finally { DecodeLinear.Vectorized = before; }
    }
}

/// <summary>Tests that switch <see cref="DecodeLinear.Vectorized"/> run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelCollection
{
    public const string Name = "decode kernel";
}
