using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Cli;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Evaluation;

public class BenchmarkTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-bench").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    /// <summary>Tiny random models saved as lm / sllm (and the SLLM's SentenceVAE as vae) directories.</summary>
    private static void SaveTinyModels(string lmDir, string sllmDir, string? vaeDir = null)
    {
        var tok = TextTokenizers.Compact;
        manual_seed(1);
        using (var lm = new OptForCausalLm(new OptConfig
               {
                   VocabSize = tok.VocabSize, HiddenSize = 32, NumHiddenLayers = 1, FfnDim = 64, NumAttentionHeads = 2, MaxPositionEmbeddings = 128,
                   PadTokenId = tok.PadId, BosTokenId = tok.BosId, EosTokenId = tok.EosId,
               }))
        {
            HuggingFaceCheckpoint.SaveOpt(lm, lmDir);
            tok.Save(lmDir);
        }
        var svae = new SentenceVaeConfig { HiddenSize = 32, NumAttentionHeads = 2, VocabSize = tok.VocabSize, BosId = tok.BosId, EosId = tok.EosId, PadId = tok.PadId, MaxSeqLen = 24 };
        using (var sllm = new SentenceLlm(new SentenceLlmConfig
               {
                   Svae = svae,
                   Backbone = new OptConfig { VocabSize = tok.VocabSize, HiddenSize = 32, NumHiddenLayers = 1, FfnDim = 64, NumAttentionHeads = 2, MaxPositionEmbeddings = 64 },
               }))
        {
            SentenceLlmCheckpoint.Save(sllm, sllmDir, tok);
            if (vaeDir is not null) SentenceVaeCheckpoint.Save(sllm.Svae, vaeDir, tok);
        }
    }

    [Fact]
    public void BenchJsonHasEveryFieldAndRatiosAgainstTheBaseline()
    {
        string lmDir = Path.Combine(dir, "lm"), sllmDir = Path.Combine(dir, "sllm");
        SaveTinyModels(lmDir, sllmDir);
        string data = Path.Combine(dir, "text.txt");
        File.WriteAllLines(data, File.ReadLines(TestPaths.Data("mobydick-ch01-18.txt")).Take(1).Select(l => l[..1500]));
        string json = Path.Combine(dir, "bench.json"), md = Path.Combine(dir, "bench.md"), png = Path.Combine(dir, "bench.png");
        var output = new MemoryStream();
        var error = new StringWriter();
        int code = SvaeCli.Run(["bench", "models", "--baseline", lmDir, "--models", sllmDir, "--data", data, "--runs", "1", "--prompt-tokens", "16", "64",
            "--output-tokens", "8", "--json", json, "--markdown", md, "--plot", png, "--weights", "fp32"], new MemoryStream(), output, error);
        Assert.True(code == 0, error.ToString());

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("fp32", doc.RootElement.GetProperty("settings").GetProperty("weights").GetString());   // the timed steps ran on the decode kernels
        Assert.True(doc.RootElement.GetProperty("machine").GetProperty("cpu").GetString()!.Length > 0);
        var models = doc.RootElement.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(2, models.Count);
        foreach (var m in models)
        {
            foreach (var key in new[] { "name", "params", "ppl", "bits_per_byte", "token_accuracy", "exact_match", "output_tokens_per_s", "prefill_tokens_per_s", "kv_bytes_per_token", "ratios" })
                Assert.True(m.TryGetProperty(key, out _), key);
            Assert.True(m.GetProperty("output_tokens_per_s").GetProperty("16").GetDouble() > 0);
            Assert.True(m.GetProperty("kv_bytes_per_token").GetProperty("64").GetDouble() > 0);
            Assert.True(m.GetProperty("bits_per_byte").GetDouble() > 0);
        }
        var baseline = models[0].GetProperty("ratios");
        Assert.Equal(1.0, baseline.GetProperty("bpb").GetDouble(), 9);
        Assert.Equal(1.0, baseline.GetProperty("throughput").GetProperty("64").GetDouble(), 9);
        Assert.Equal(JsonValueKind.Null, models[0].GetProperty("token_accuracy").ValueKind);
        Assert.InRange(models[1].GetProperty("token_accuracy").GetDouble(), 0, 1);
        // The sentence model's KV cache per token is smaller than the token model's at the same width and depth
        // (one backbone position per piece).
        Assert.True(models[1].GetProperty("ratios").GetProperty("kv").GetProperty("64").GetDouble() < 1);
        Assert.Contains("| sllm |", File.ReadAllText(md));
        Assert.True(new FileInfo(png).Length > 1000);
    }

    [Fact]
    public void FrontierBenchComparesTwoFamiliesAtEachBatchOnEachTextWithTheirTrainedContexts()
    {
        string lmDir = Path.Combine(dir, "lm"), sllmDir = Path.Combine(dir, "sllm"), shortLm = Path.Combine(dir, "lm-short");
        SaveTinyModels(lmDir, sllmDir);
        // A second token model that was trained on 32 tokens: it is scored with windows of 32.
        var config = OptConfig.Load(Path.Combine(lmDir, "config.json")) with { TrainedContext = 32 };
        Directory.CreateDirectory(shortLm);
        foreach (var file in Directory.GetFiles(lmDir)) File.Copy(file, Path.Combine(shortLm, Path.GetFileName(file)));
        config.Save(Path.Combine(shortLm, "config.json"));
        string data = Path.Combine(dir, "text.txt"), other = Path.Combine(dir, "other.txt");
        File.WriteAllLines(data, File.ReadLines(TestPaths.Data("mobydick-ch01-18.txt")).Take(1).Select(l => l[..1500]));
        File.WriteAllLines(other, File.ReadLines(TestPaths.Data("austen-valid.txt")).Take(1).Select(l => l[..Math.Min(l.Length, 800)]));
        string json = Path.Combine(dir, "bench.json"), frontier = Path.Combine(dir, "frontier.png");
        var error = new StringWriter();
        int code = SvaeCli.Run(["bench", "models", "--baseline", lmDir, "--models", sllmDir, shortLm, "--data", data, "--runs", "1", "--prompt-tokens", "16",
            "--output-tokens", "8", "--batch", "1", "3", "--score", other, "--json", json, "--frontier", frontier], new MemoryStream(), new MemoryStream(), error);
        Assert.True(code == 0, error.ToString());

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var models = doc.RootElement.GetProperty("models").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!);
        Assert.Equal(["lm", "sllm", "lm-short"], models.Keys);
        Assert.Equal("opt", models["lm-short"].GetProperty("kind").GetString());
        Assert.Equal(128, models["lm"].GetProperty("context").GetInt32());        // no trained_context: every position
        Assert.Equal(32, models["lm-short"].GetProperty("context").GetInt32());
        Assert.Equal(63, models["sllm"].GetProperty("context").GetInt32());       // 64 positions less the start vector
        // The same weights scored with a shorter window see less context: a different score.
        Assert.NotEqual(models["lm"].GetProperty("bits_per_byte").GetDouble(), models["lm-short"].GetProperty("bits_per_byte").GetDouble());
        foreach (var m in models.Values)
        {
            Assert.True(m.GetProperty("bits_per_byte_by_text").GetProperty("other.txt").GetDouble() > 0);
            Assert.True(m.GetProperty("output_tokens_per_s").GetProperty("16").GetDouble() > 0);
            Assert.True(m.GetProperty("output_tokens_per_s").GetProperty("16x3").GetDouble() > 0);
            Assert.True(m.GetProperty("ratios").GetProperty("throughput").GetProperty("16x3").GetDouble() > 0);
        }
        foreach (int batch in new[] { 1, 3 })
            Assert.True(new FileInfo(Path.Combine(dir, $"frontier-b{batch}.png")).Length > 1000);
    }

    [Fact]
    public void DemoShowsNextPiecePredictionGenerationBesideTheTokenModelAndTheTable()
    {
        SaveTinyModels(Path.Combine(dir, "models", "lm-256"), Path.Combine(dir, "models", SentenceVae.Cli.Commands.DemoCommand.Sllm));
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        File.Copy(TestPaths.Data("austen-valid.txt"), Path.Combine(dir, "data", "austen-valid.txt"));
        var output = new MemoryStream();
        var error = new StringWriter();
        int code = SvaeCli.Run(["demo", "--repo", dir], new MemoryStream(), output, error);
        Assert.True(code == 0, error.ToString());
        string text = System.Text.Encoding.UTF8.GetString(output.ToArray());
        Assert.Contains("== Next-sentence prediction", text);
        Assert.Equal(6, text.Split('\n').Count(l => l.StartsWith("    model: ")));     // six next pieces predicted
        Assert.Contains("== Generation from the same prompt", text);
        Assert.Contains("  lm-256: It was a fine morning", text);
        // The benchmark: one line per model under a header, then the legend and the word on noise.
        Assert.Contains(text.Split('\n'), l => l.TrimStart().StartsWith(SentenceVae.Cli.Commands.DemoCommand.Sllm + " ") && l.Contains('x'));
        Assert.Contains("bits/byte  how well the model predicts this text", text);
        Assert.Contains("noisy", text);
    }
}
