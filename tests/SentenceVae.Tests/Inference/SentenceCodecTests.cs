using SentenceVae.Inference;
using SentenceVae.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Inference;

public class SentenceCodecTests
{
    internal static SentenceVaeModel RandomVae(int seed, int layers = 2, int vocab = 300, int maxSeqLen = 24)
    {
        manual_seed(seed);
        var model = new SentenceVaeModel(new SentenceVaeConfig
        {
            HiddenSize = 32, NumAttentionHeads = 4, NumHiddenLayers = layers, VocabSize = vocab, MaxSeqLen = maxSeqLen,
            LearnableAdd = true, Dropout = 0, BosId = 2, EosId = 3, PadId = 1,
        });
        model.eval();
        return model;
    }

    private static List<int[]> Pieces(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 1 + rng.Next(12)).Select(_ => 4 + rng.Next(290)).ToArray()).ToList();
    }

    [Fact]
    public void CachedDecodingProducesExactlyTheTokensOfUncachedDecoding()
    {
        using var scope = NewDisposeScope();
        using var model = RandomVae(11);
        var codec = new SentenceCodec(model, batchSize: 8);
        var vectors = codec.Encode(Pieces(20, 1));
        var cached = codec.Decode(vectors, new GenerationOptions { MaxNewTokens = 30 });
        var uncached = codec.DecodeUncached(vectors, 30);
        Assert.Equal(uncached, cached);
    }

    [Fact]
    public void TheLengthLimitAlwaysHolds()
    {
        using var scope = NewDisposeScope();
        using var model = RandomVae(12, maxSeqLen: 10);
        var codec = new SentenceCodec(model);
        var vectors = codec.Encode(Pieces(16, 2).Select(p => p.Take(9).ToArray()).ToList());
        Assert.All(codec.Decode(vectors, new GenerationOptions { MaxNewTokens = 100, StopAtEos = false }), ids => Assert.Equal(9, ids.Length));
        Assert.All(codec.Decode(vectors, new GenerationOptions { MaxNewTokens = 4 }), ids => Assert.InRange(ids.Length, 0, 4));
        Assert.All(codec.DecodeUncached(vectors, 100), ids => Assert.InRange(ids.Length, 0, 9));
    }

    [Fact]
    public void BatchedEncodingEqualsOnePieceAtATime()
    {
        using var scope = NewDisposeScope();
        using var model = RandomVae(13);
        var pieces = Pieces(10, 3);
        var batched = new SentenceCodec(model, batchSize: 4).Encode(pieces);
        var single = new SentenceCodec(model, batchSize: 1).Encode(pieces);
        Assert.True((batched - single).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void RowsFinishIndependentlyAndBatchedDecodingEqualsSingleRows()
    {
        using var scope = NewDisposeScope();
        using var model = RandomVae(14);
        var codec = new SentenceCodec(model);
        var vectors = codec.Encode(Pieces(12, 4));
        var options = new GenerationOptions { MaxNewTokens = 20 };
        var batched = codec.Decode(vectors, options);
        for (int i = 0; i < 12; i++)
            Assert.Equal(codec.Decode(vectors.narrow(0, i, 1), options)[0], batched[i]);
        Assert.All(batched, ids => Assert.DoesNotContain(model.Config.EosId, ids));
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        using var scope = NewDisposeScope();
        using var model = RandomVae(15);
        var codec = new SentenceCodec(model);
        var vectors = codec.Encode(Pieces(6, 5));
        var options = new GenerationOptions { MaxNewTokens = 15, Temperature = 0.8, TopK = 40, TopP = 0.95, Seed = 7 };
        Assert.Equal(codec.Decode(vectors, options), codec.Decode(vectors, options));
    }

    [Fact]
    public void RejectsPiecesLongerThanTheModelAllows()
    {
        using var model = RandomVae(16, maxSeqLen: 8);
        var e = Assert.Throws<ArgumentException>(() => new SentenceCodec(model).Encode([Enumerable.Repeat(5, 8).ToArray()]));
        Assert.Contains("max_seq_len", e.Message);
    }
}
