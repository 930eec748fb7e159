using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Tests.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Twin;

/// <summary>
/// The PyTorch twin of the end-to-end sentence-level LLM (python/svae_twin/sllm.py) against ours: the same token and
/// stop logits on the same weights for every memory layout, on batches of windows whose pieces differ in length and
/// count; the same greedy pieces; and a directory it trains on two gloo processes takes one process's step, loads here
/// and scores the same bits per byte.
/// </summary>
[Collection(TwinCollection.Name)]
public sealed class SentenceLlmTwinTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-sllm-twin").FullName;
    private static readonly string Shipped = Path.Combine(TestPaths.RepoRoot, "models", "sllm-256-e2e");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    // Three windows: a whole document, a middle stretch (first piece context only), a document's start scored from its third piece.
    private static readonly (int Pieces, bool Starts, bool Ends, int First)[] Layout = [(5, true, true, 0), (3, false, false, 0), (4, true, false, 2)];

    // Ours and the twin's scores of the same batch: the largest logit difference and both token NLLs.
    private (double Logits, double Ours, double Twin) Compare(string model, List<List<int[]>> windows)
    {
        using var scope = NewDisposeScope();
        using var sllm = SentenceLlmCheckpoint.Load(model);
        var (ids, mask) = new SentenceCodec(sllm.Svae).Windows(windows);                               // as SllmTrainingTask batches them
        var layout = Layout.Select(l => new PieceWindowLayout(l.Pieces, l.Starts, l.Ends, l.First)).ToList();
        using var noGrad = no_grad();
        var ours = sllm.forward(ids, mask, layout);
        var expected = cat([ours.TokenLogits.flatten(), ours.StopLogits.flatten()]).data<float>().ToArray();

        string batch = Path.Combine(dir, "batch.json"), output = Path.Combine(dir, "logits.bin");
        File.WriteAllText(batch, JsonSerializer.Serialize(new
        {
            piece_ids = ToNested(ids), piece_mask = ToNested(mask),
            layout = Layout.Select(l => new object[] { l.Pieces, l.Starts, l.Ends, l.First }),
        }));
        var twinScores = JsonDocument.Parse(TwinProcess.Module("logits", "--model", model, "--batch", batch, "--out", output)).RootElement;
        var twin = TwinProcess.ReadFloats(output);
        Assert.Equal(expected.Length, twin.Length);
        Assert.Equal(ours.Tokens, twinScores.GetProperty("tokens").GetInt64());
        Assert.Equal(ours.Stops, twinScores.GetProperty("stops").GetInt64());
        double largest = expected.Zip(twin, (a, b) => (double)Math.Abs(a - b)).Max();
        return (largest, ours.TokenNll.item<float>() + ours.StopNll.item<float>(), twinScores.GetProperty("token_nll").GetDouble() + twinScores.GetProperty("stop_nll").GetDouble());
    }

    private static long[][][] ToNested(Tensor t)
    {
        var values = t.data<long>().ToArray();
        long s = t.shape[1], l = t.shape[2];
        return Enumerable.Range(0, (int)t.shape[0]).Select(b => Enumerable.Range(0, (int)s).Select(p => values.Skip((int)((b * s + p) * l)).Take((int)l).ToArray()).ToArray()).ToArray();
    }

    private static void AssertSame((double Logits, double Ours, double Twin) c)
    {
        Assert.True(c.Logits < 1e-4, $"largest logit difference {c.Logits}");
        Assert.True(Math.Abs(c.Ours - c.Twin) < 1e-5 * Math.Abs(c.Ours) + 1e-4, $"NLL: ours {c.Ours}, twin {c.Twin}");
    }

    // Windows of real text for the shipped model: consecutive pieces of a validation document, different in length.
    private static List<List<int[]>> TextWindows(string model)
    {
        var tokenizer = TextTokenizers.Load(model);
        var splitter = SentenceLlmConfig.Load(Path.Combine(model, "config.json")).Svae.Splitter(tokenizer);
        var pieces = splitter.Split(File.ReadLines(TestPaths.Data("austen-valid.txt")).First(l => l.Length > 2000)).Select(p => tokenizer.Encode(p).ToArray()).ToList();
        int next = 0;
        return Layout.Select(l => { var w = pieces.GetRange(next, l.Pieces); next += l.Pieces; return w; }).ToList();
    }

    // A model of random weights saved as a directory, with random pieces of its small vocabulary.
    private (string Model, List<List<int[]>> Windows) Random(SentenceLlmConfig config, string name)
    {
        string model = Path.Combine(dir, name);
        using (var sllm = SentenceLlmTests.Tiny(7, config)) SentenceLlmCheckpoint.Save(sllm, model);
        var rng = new System.Random(3);
        return (model, Layout.Select(l => SentenceLlmTests.RandomPieces(rng, l.Pieces)).ToList());
    }

    [TorchFact]
    public void KMemoryVectorsAndThePreviousPieceScoreAsOursOnTheShippedModel() => AssertSame(Compare(Shipped, TextWindows(Shipped)));

    [TorchFact]
    public void ThePapersLayoutScoresAsOurs()
    {
        // The output itself as the one memory vector, no start vector, a learned pooling and a narrower token embedding.
        var config = SentenceLlmTests.TinyConfig(startVector: false) with { Svae = SentenceLlmTests.TinyConfig().Svae with { LearnableAdd = true, WordEmbedProjDim = 24 } };
        var (model, windows) = Random(config, "paper");
        AssertSame(Compare(model, windows));
    }

    [TorchFact]
    public void AWiderPostNormBackboneWithKVectorsAndThePreviousPieceScoresAsOurs()
    {
        var rich = SentenceLlmTests.RichConfig();
        var (model, windows) = Random(rich with { Backbone = rich.Backbone with { DoLayerNormBefore = false } }, "wide");
        AssertSame(Compare(model, windows));
    }

    [TorchFact]
    public void TheTwinWritesOurGreedyPieces()
    {
        var tokenizer = TextTokenizers.Load(Shipped);
        using var scope = NewDisposeScope();
        using var sllm = SentenceLlmCheckpoint.Load(Shipped);
        var generator = new SentenceLlmGenerator(sllm, tokenizer);
        var prompts = new[] { "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.", "Emma smiled." }
            .Select(p => generator.PromptPieces(p)).ToList();
        var rows = prompts.Select(p => SentenceLlmGenerator.Row(p, new SentenceGenerationOptions { MaxPieces = 3 })).ToList();
        var ours = EngineRuns.Written(generator.Run(rows), rows);
        string file = Path.Combine(dir, "prompts.json");
        File.WriteAllText(file, JsonSerializer.Serialize(prompts));
        var twin = JsonSerializer.Deserialize<int[][][]>(TwinProcess.Module("generate", "--model", Shipped, "--prompts", file, "--max-pieces", "3"))!;
        Assert.Equal(ours.Select(r => r.Count).ToArray(), twin.Select(r => r.Length).ToArray());
        Assert.True(ours.Sum(r => r.Count) >= 4, "the rows wrote pieces");
        for (int r = 0; r < ours.Count; r++)
            for (int p = 0; p < ours[r].Count; p++)
                Assert.Equal(ours[r][p], twin[r][p]);
    }

    [TorchFact]
    public void TwoGlooProcessesTakeTheStepOfOneAndWhatTheyTrainScoresTheSameHere()
    {
        string shards = Path.Combine(dir, "shards"), corpus = Path.Combine(dir, "corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(TestPaths.Data("austen-valid.txt")).Where(l => l.Length > 0).Take(3).Select(l => l[..Math.Min(l.Length, 4000)]));
        var tokenizer = TextTokenizers.Load(Shipped);
        var svae = SentenceLlmConfig.Load(Path.Combine(Shipped, "config.json")).Svae;
        TokenShards.Write(corpus, shards, "train", tokenizer, svae.Splitter(tokenizer), svae.MaxSeqLen - 1);
        string Train(int processes, string name)
        {
            string output = Path.Combine(dir, name);
            // Windows of 8 pieces: the ranks' halves of a batch hold different numbers of tokens.
            TwinProcess.Torchrun(processes, "--init", Shipped, "--shards", shards, "--out", output, "--steps", "3", "--batch-size", "4",
                "--window-pieces", "8", "--dropout", "0", "--float64");
            return output;
        }
        string one = Train(1, "one"), two = Train(2, "two");
        using var scope = NewDisposeScope();
        using var a = SentenceLlmCheckpoint.Load(one);
        using var b = SentenceLlmCheckpoint.Load(two);
        using var parent = SentenceLlmCheckpoint.Load(Shipped);
        var (pa, pb, p0) = (a.state_dict(), b.state_dict(), parent.state_dict());
        double largest = pa.Keys.Max(k => (pa[k] - pb[k]).abs().max().item<float>());
        Assert.True(largest <= 1e-5, $"largest parameter difference between 1 and 2 processes: {largest}");
        Assert.True(pa.Keys.Max(k => (pa[k] - p0[k]).abs().max().item<float>()) > 1e-4, "three steps changed the weights");
        Assert.Equal(8, b.Config.TrainedContext);

        // It scores the same bits per byte here as the twin does (our evaluator's windows, mirrored by svae_twin.evaluate).
        var documents = File.ReadLines(TestPaths.Data("austen-valid.txt")).Where(l => l.Length > 0).Skip(3).Take(2).Select(l => l[..Math.Min(l.Length, 2500)]).ToList();
        var pieces = documents.Select(d => svae.Splitter(tokenizer).Split(d).Select(p => tokenizer.Encode(p).ToArray()).ToArray()).ToList();
        string docs = Path.Combine(dir, "documents.json");
        File.WriteAllText(docs, JsonSerializer.Serialize(new { pieces, bytes = documents.Sum(d => System.Text.Encoding.UTF8.GetByteCount(d)) }));
        double twin = JsonDocument.Parse(TwinProcess.Module("evaluate", "--model", two, "--documents", docs)).RootElement.GetProperty("bits_per_byte").GetDouble();
        double ours = SllmEvaluator.Evaluate(b, tokenizer, documents).BitsPerByte!.Value;
        Assert.True(Math.Abs(twin - ours) < 1e-4, $"bits/byte: twin {twin}, ours {ours}");
    }
}
