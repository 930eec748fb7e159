using SentenceVae.Inference;
using System.Text.Json;
using SentenceVae.Evaluation;
using SentenceVae.Modules;
using SentenceVae.Tests.Cli;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Tests.Evaluation;

public class PaperBenchTests
{
    private static readonly string[] Keys =
    [
        "size", "h", "batch", "prompt_tokens", "decoder_vocab", "baseline_tokens_per_s", "sllm_tokens_per_s", "speed_ratio", "baseline_step_ms",
        "baseline_bound_ms", "sllm_token_step_ms", "sllm_token_bound_ms", "kv_ratio", "read_gb_per_s", "baseline_step_vs_bound", "sllm_token_step_vs_bound",
        "sllm_piece_step_vs_bound",
    ];

    [Fact]
    public void ThePaperShapesCommandMeasuresEveryPairOnTinyShapes()
    {
        string json = Path.GetTempFileName(), markdown = Path.GetTempFileName();
        try
        {
            var (code, output, error) = CliRunner.Run("bench", "paper", "--sizes", "tiny", "--runs", "1", "--data", TestPaths.Data("austen-valid.txt"),
                "--json", json, "--markdown", markdown, "--threads", "1");
            Assert.True(code == 0, error);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var root = doc.RootElement;
            double mean = root.GetProperty("mean_tokens_per_piece").GetDouble();
            int perPiece = root.GetProperty("tokens_per_piece").GetInt32();
            Assert.InRange(mean, 4, 40);
            Assert.Equal((int)Math.Round(mean), perPiece);
            var rows = root.GetProperty("rows").EnumerateArray().ToList();
            Assert.Equal(3 * 2 * 3 + 3 * 2, rows.Count);                  // H × batch × prompt with OPT's vocabulary, H × batch with the compact one
            foreach (var row in rows)
            {
                foreach (var key in Keys) Assert.True(row.TryGetProperty(key, out _), $"row lacks {key}");
                foreach (var key in Keys.Skip(5))
                    Assert.True(row.GetProperty(key).GetDouble() is > 0 and < double.PositiveInfinity, $"{key} = {row.GetProperty(key)}");
                Assert.Equal("tiny", row.GetProperty("size").GetString());
                // The same backbone holds one KV entry per piece instead of per token.
                Assert.Equal(1.0 / perPiece, row.GetProperty("kv_ratio").GetDouble(), 6);
                Assert.True(row.GetProperty("prompt_tokens").GetInt32() < 256, "prompts are capped by the positions");
            }
            Assert.Equal([50272, 8192], rows.Select(r => r.GetProperty("decoder_vocab").GetInt32()).Distinct());
            Assert.Contains("| tiny | 1 | 50272 | libtorch | 1 |", File.ReadAllText(markdown));
            Assert.Contains($"pieces of {perPiece} tokens", output);
        }
        finally
        {
            File.Delete(json);
            File.Delete(markdown);
        }
    }

    [Fact]
    public void ASmallerDecoderVocabularyMakesTheDecoderStepReadFewerBytes()
    {
        using var big = new SentenceLlm(PaperBench.Sllm("tiny", 1, 50272));
        using var small = new SentenceLlm(PaperBench.Sllm("tiny", 1, 8192));
        long difference = EngineTiming.DecoderStepBytes(big) - EngineTiming.DecoderStepBytes(small);
        Assert.Equal((50272L - 8192) * 64 * sizeof(float) + (50272L - 8192) * sizeof(float), difference);   // the projection's weight and bias
        Assert.Equal(EngineTiming.PieceStepBytes(big), EngineTiming.PieceStepBytes(small));                   // the input embedding is read a row at a time
    }

    [Fact]
    public void TheEnginesWriteTheTokensAskedFromARandomContextAndTheSentenceEngineProfilesItsParts()
    {
        using var lm = new OptForCausalLm(PaperBench.Backbone("tiny"));
        using var sllm = new SentenceLlm(PaperBench.Sllm("tiny", 2, 300));
        using var tokens = new TokenEngine(lm, lm.Config.EosTokenId, 3, 40 + 10 + 1);
        using var pieces = new SentenceEngine(sllm, 3, positions: 1 + 8 + 2);
        var tokenRows = Enumerable.Range(0, 3).Select(_ => EngineTiming.TokenRow(40, 10)).ToList();
        var pieceRows = Enumerable.Range(0, 3).Select(_ => EngineTiming.PieceRow(40, 10, 5)).ToList();
        Assert.True(EngineTiming.Write(tokens, tokenRows) > 0);
        Assert.True(EngineTiming.Write(pieces, pieceRows) > 0);
        Assert.All(tokenRows, r => { Assert.Equal(10, r.Tokens); Assert.Equal(DecodeEnd.Length, r.End); });
        Assert.All(pieceRows, r => { Assert.Equal(10, r.Tokens); Assert.Equal(2, r.Pieces); Assert.Equal(DecodeEnd.Length, r.End); });
        Assert.Equal(10, pieces.DecoderCalls);                               // two pieces of five tokens, all rows in each pass
        Assert.Equal(1, pieces.PieceCalls);                                  // the per-piece work between them, for the three rows at once
        Assert.Equal(0, pieces.WaitingRowIterations);
        Assert.Equal(["backbone", "decoder", "encoder", "piece", "prefill", "stop_and_memory"], pieces.Profile.Keys.Order());
        Assert.All(pieces.Profile.Where(p => p.Key != "prefill"), p => Assert.True(p.Value > 0, p.Key));
        Assert.Equal(2.0 * 2 * 64 * sizeof(float), EngineTiming.KvBytesPerToken(lm.Config));
        Assert.Equal(EngineTiming.KvBytesPerToken(lm.Config) / 5, EngineTiming.KvBytesPerToken(sllm.Config, 5));
    }

    [Fact]
    public void WithHalfSizeWeightsTheRowsSayBf16AndTheBoundsCountTheBytesRead()
    {
        var options = new PaperBenchOptions { Sizes = ["tiny"], H = [1], Batches = [1], Prompts = [32], DecoderVocabs = [300], CompactPrompt = 32, TokensPerPiece = 4, Runs = 1 };
        var fp32 = PaperBench.Run(options with { Weights = WeightFormat.Float32 }).Single();
        var bf16 = PaperBench.Run(options with { Weights = WeightFormat.BFloat16 }).Single();
        var plain = PaperBench.Run(options).Single();
        Assert.Equal(("fp32", "bf16", "libtorch"), (fp32.Weights, bf16.Weights, plain.Weights));
        // In bf16 every weight matrix a step reads costs 2 bytes an element instead of 4; vectors (biases, norms) stay fp32.
        using var sllm = new SentenceLlm(PaperBench.Sllm("tiny", 1, 300));
        long matrices = sllm.Svae.Decoder.named_parameters()
            .Where(p => p.parameter.dim() >= 2 && !(p.name == "embed_token.weight" && !sllm.Config.Svae.TieWordEmbeddings))   // an untied input embedding is read a row at a time
            .Sum(p => p.parameter.numel());
        long fp32Bytes = EngineTiming.DecoderStepBytes(sllm), bf16Bytes = EngineTiming.DecoderStepBytes(sllm, WeightFormat.BFloat16);
        Assert.Equal(matrices * 2, fp32Bytes - bf16Bytes);
        // Each row's bounds are its bytes at the bandwidth read beside its runs; a bf16 step is also set against its weights' fp32 bytes.
        foreach (var row in new[] { fp32, bf16, plain }) Assert.True(row.ReadGBPerS > 0 && row.BaselineVsBound > 0 && row.SllmTokenVsBound > 0 && row.SllmPieceVsBound > 0);
        Assert.Equal(bf16Bytes / (bf16.ReadGBPerS * 1e9) * 1e3, bf16.SllmTokenBoundMs, 9);
        Assert.Equal(fp32Bytes / (fp32.ReadGBPerS * 1e9) * 1e3, fp32.SllmTokenBoundMs, 9);
        Assert.Equal((double)fp32Bytes / bf16Bytes, bf16.SllmTokenVsBound / bf16.VsFp32Bound["sllm_token"], 6);
        Assert.Equal(fp32.SllmTokenVsBound, fp32.VsFp32Bound["sllm_token"], 9);
        Assert.True(bf16.SllmTokensPerS > 0 && bf16.BaselineTokensPerS > 0);
    }

    [Fact]
    public void APlainReadMeasuresABandwidthOnOneAndTwoThreads()
    {
        using var read = new WeightRead(64L << 20);
        Assert.True(read.Read(1) > 0 && read.Read(2) > 0);
        double bandwidth = read.BytesPerSecond();
        Assert.InRange(bandwidth, 1e8, 1e13);                              // bytes per second: somewhere between a slow disk and a fast cache
    }
}
