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
    [InlineData(70, 64, 10, 2, true)]          // blocks of two weight rows × four input rows (512-bit where the CPU has AVX-512), and two left over
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
    }
}

/// <summary>Tests that switch <see cref="DecodeLinear.Vectorized"/> run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelCollection
{
    public const string Name = "decode kernel";
}
