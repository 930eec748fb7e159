using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Twin;

/// <summary>
/// The PyTorch twin of the token model (python/svae_twin/opt.py, train.py) against ours: the same logits on the
/// same weights, a directory it trains loads here and scores the same, two gloo processes under torchrun take
/// the step one process takes on the whole batch, and a run resumed from its checkpoint ends as an unbroken one.
/// </summary>
[Collection(TwinCollection.Name)]
public sealed class TokenModelTwinTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-twin").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    // The twin's logits of right-padded rows (B, T, V).
    private float[] TwinLogits(string model, int[][] rows)
    {
        string ids = Path.Combine(dir, "ids.json"), output = Path.Combine(dir, "logits.bin");
        File.WriteAllText(ids, JsonSerializer.Serialize(rows));
        TwinProcess.Module("logits", "--model", model, "--ids", ids, "--out", output);
        return TwinProcess.ReadFloats(output);
    }

    // Ours on the same rows: (B, T, V), real positions only compared by the caller.
    private static float[] OurLogits(string model, int[][] rows)
    {
        using var scope = NewDisposeScope();
        using var lm = HuggingFaceCheckpoint.LoadOpt(model);
        lm.eval();
        int t = rows.Max(r => r.Length), pad = lm.Config.PadTokenId;
        var ids = tensor(rows.SelectMany(r => r.Concat(Enumerable.Repeat(pad, t - r.Length))).Select(i => (long)i).ToArray(), new long[] { rows.Length, t });
        var mask = tensor(rows.SelectMany(r => Enumerable.Range(0, t).Select(i => i < r.Length ? 1L : 0L)).ToArray(), new long[] { rows.Length, t });
        using var noGrad = no_grad();
        return lm.forward(ids, mask).contiguous().data<float>().ToArray();
    }

    private static double MaxDifferenceOnRealPositions(float[] a, float[] b, int[][] rows, int vocab)
    {
        int t = rows.Max(r => r.Length);
        double max = 0;
        for (int r = 0; r < rows.Length; r++)
            for (int p = 0; p < rows[r].Length; p++)
                for (int v = 0; v < vocab; v++)
                {
                    long i = ((long)r * t + p) * vocab + v;
                    max = Math.Max(max, Math.Abs(a[i] - b[i]));
                }
        return max;
    }

    private static int[][] Rows(ITextTokenizer tokenizer) =>
        new[] { "It is a truth universally acknowledged, that a single man", "Emma smiled.", "Call me Ishmael. Some years ago" }
            .Select(s => new[] { tokenizer.BosId }.Concat(tokenizer.Encode(s)).ToArray()).ToArray();

    [TorchFact]
    public void TheTwinsLogitsAreOursOnABatchOfDifferentLengths()
    {
        string model = Path.Combine(TestPaths.RepoRoot, "models", "lm-256");
        var rows = Rows(TextTokenizers.Load(model));
        int vocab = OptConfig.Load(Path.Combine(model, "config.json")).VocabSize;
        double difference = MaxDifferenceOnRealPositions(TwinLogits(model, rows), OurLogits(model, rows), rows, vocab);
        Assert.True(difference < 1e-4, $"largest logit difference {difference}");
    }

    [TorchFact]
    public void TheTwinWritesOurGreedyTokens()
    {
        string model = Path.Combine(TestPaths.RepoRoot, "models", "lm-256");
        var tokenizer = TextTokenizers.Load(model);
        var prompts = Rows(tokenizer);
        List<int[]> ours;
        using (var scope = NewDisposeScope())
        using (var lm = HuggingFaceCheckpoint.LoadOpt(model))
            ours = new SentenceVae.Inference.TokenGenerator(lm, tokenizer).Generate(prompts, new SentenceVae.Inference.GenerationOptions { MaxNewTokens = 24 });
        string file = Path.Combine(dir, "prompts.json");
        File.WriteAllText(file, JsonSerializer.Serialize(prompts));
        var twin = JsonSerializer.Deserialize<int[][]>(TwinProcess.Module("generate", "--model", model, "--prompts", file, "--max-new-tokens", "24"))!;
        Assert.True(ours.Sum(r => r.Length) >= 24, "the rows wrote tokens");
        Assert.Equal(ours.Count, twin.Length);
        for (int r = 0; r < ours.Count; r++) Assert.Equal(ours[r], twin[r]);
    }

    [TorchFact]
    public void TwoGlooProcessesTakeTheStepOfOneResumeExactlyAndWhatTheyTrainLoadsHere()
    {
        string model = Path.Combine(TestPaths.RepoRoot, "models", "lm-256"), shards = Path.Combine(dir, "shards"), corpus = Path.Combine(dir, "corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(TestPaths.Data("austen-valid.txt")).Where(l => l.Length > 0).Take(4));
        var tokenizer = TextTokenizers.Load(model);
        TokenShards.Write(corpus, shards, "train", tokenizer, new SentenceVaeConfig { MaxSeqLen = 64 }.Splitter(tokenizer), 63);
        string Train(int processes, int steps, string name, bool resume = false)
        {
            string output = Path.Combine(dir, name);
            TwinProcess.Torchrun(processes, ["--init", model, "--shards", shards, "--out", output, "--steps", steps.ToString(), "--batch-size", "4", "--seq-len", "64",
                "--dropout", "0", "--float64", .. (resume ? new[] { "--resume" } : [])]);
            return output;
        }
        string one = Train(1, 3, "one"), two = Train(2, 3, "two");
        using var scope = NewDisposeScope();
        using var a = HuggingFaceCheckpoint.LoadOpt(one);
        using var b = HuggingFaceCheckpoint.LoadOpt(two);
        using var parent = HuggingFaceCheckpoint.LoadOpt(model);
        var (pa, pb, p0) = (a.state_dict(), b.state_dict(), parent.state_dict());
        double largest = pa.Keys.Max(k => (pa[k] - pb[k]).abs().max().item<float>());
        Assert.True(largest <= 1e-5, $"largest parameter difference between 1 and 2 processes: {largest}");
        Assert.True(pa.Keys.Max(k => (pa[k] - p0[k]).abs().max().item<float>()) > 1e-4, "three steps changed the weights");

        var rows = Rows(tokenizer);
        double difference = MaxDifferenceOnRealPositions(TwinLogits(two, rows), OurLogits(two, rows), rows, tokenizer.VocabSize);
        Assert.True(difference < 1e-4, $"the trained directory: largest logit difference {difference}");

        // It scores the same bits per byte here as the twin does (our evaluator's windows, mirrored by svae_twin.evaluate).
        var documents = File.ReadLines(TestPaths.Data("austen-valid.txt")).Where(l => l.Length > 0).Skip(4).Take(2).Select(l => l[..Math.Min(l.Length, 3000)]).ToList();
        string docs = Path.Combine(dir, "documents.json");
        File.WriteAllText(docs, JsonSerializer.Serialize(new { ids = documents.Select(d => tokenizer.Encode(d)), bytes = documents.Sum(d => System.Text.Encoding.UTF8.GetByteCount(d)) }));
        double twin = JsonDocument.Parse(TwinProcess.Module("evaluate", "--model", two, "--documents", docs)).RootElement.GetProperty("bits_per_byte").GetDouble();
        double ours;
        using (var trained = HuggingFaceCheckpoint.LoadOpt(two)) ours = SentenceVae.Evaluation.LmEvaluator.Evaluate(trained, tokenizer, documents).BitsPerByte!.Value;
        Assert.True(Math.Abs(twin - ours) < 1e-4, $"bits/byte: twin {twin}, ours {ours}");

        // A 2-process run resumed from its checkpoint after 3 steps ends where 5 steps in one go end.
        string straight = Train(2, 5, "straight");
        Train(2, 5, "two", resume: true);
        using var resumed = HuggingFaceCheckpoint.LoadOpt(two);
        using var whole = HuggingFaceCheckpoint.LoadOpt(straight);
        var (pr, pw) = (resumed.state_dict(), whole.state_dict());
        double apart = pr.Keys.Max(k => (pr[k] - pw[k]).abs().max().item<float>());
        Assert.True(apart == 0, $"resumed and straight runs differ by up to {apart}");
    }
}
