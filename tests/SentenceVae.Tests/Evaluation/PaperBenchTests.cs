using System.Text.Json;
using SentenceVae.Evaluation;
using SentenceVae.Modules;
using SentenceVae.Tests.Cli;

namespace SentenceVae.Tests.Evaluation;

public class PaperBenchTests
{
    private static readonly string[] Keys =
    [
        "size", "h", "batch", "prompt_tokens", "decoder_vocab", "baseline_tokens_per_s", "sllm_tokens_per_s", "speed_ratio", "baseline_step_ms",
        "baseline_bound_ms", "sllm_token_step_ms", "sllm_token_bound_ms", "kv_ratio",
    ];

    [Fact]
    public void ThePaperShapesCommandMeasuresEveryPairOnTinyShapes()
    {
        string json = Path.GetTempFileName(), markdown = Path.GetTempFileName();
        try
        {
            var (code, output, error) = CliRunner.Run("bench", "--shapes", "paper", "--sizes", "tiny", "--runs", "1", "--data", TestPaths.Data("austen-valid.txt"),
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
            Assert.Contains("| tiny | 1 | 50272 | 1 |", File.ReadAllText(markdown));
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
        using var big = new SentenceLlmSubject("big", new SentenceLlm(PaperBench.Sllm("tiny", 1, 50272)), 8);
        using var small = new SentenceLlmSubject("small", new SentenceLlm(PaperBench.Sllm("tiny", 1, 8192)), 8);
        long difference = big.TokenStepWeightBytes - small.TokenStepWeightBytes;
        Assert.Equal((50272L - 8192) * 64 * sizeof(float) + (50272L - 8192) * sizeof(float), difference);   // the projection's weight and bias
        Assert.Equal(big.PieceStepWeightBytes, small.PieceStepWeightBytes);                                 // the input embedding is read a row at a time
    }

    [Fact]
    public void EachSubjectWritesTheTokensAskedAndProfilesItsParts()
    {
        using var lm = new TokenModelSubject("lm", new OptForCausalLm(PaperBench.Backbone("tiny")));
        using var sllm = new SentenceLlmSubject("sllm", new SentenceLlm(PaperBench.Sllm("tiny", 2, 300)), 5);
        lm.Prepare(batch: 3, promptTokens: 40, roomTokens: 20);
        sllm.Prepare(batch: 3, promptTokens: 40, roomTokens: 20);
        Assert.Equal(40, lm.Context);
        Assert.Equal(1 + 8, sllm.Context);                                   // the start vector and 40 / 5 prompt pieces
        double lmSeconds = lm.Write(10), sllmSeconds = sllm.Write(10);
        Assert.Equal(50, lm.Context);                                        // ten steps, one token each
        Assert.Equal(1 + 8 + 2, sllm.Context);                               // two pieces of five tokens
        Assert.InRange(lmSeconds, lm.Profile["step"] * 10 / 1e3 * 0.999, double.MaxValue);
        Assert.Equal(sllmSeconds * 1e3, sllm.Profile.Where(p => p.Key != "decoder_token_step").Sum(p => p.Value), 0.05 * sllmSeconds * 1e3 + 1);
        Assert.Equal(["step"], lm.Profile.Keys);
        Assert.Equal(["backbone", "decoder", "decoder_token_step", "encoder", "stop"], sllm.Profile.Keys.Order());
        Assert.Equal(2.0 * 2 * 64 * sizeof(float), lm.KvBytesPerContextToken);
        Assert.Equal(lm.KvBytesPerContextToken / 5, sllm.KvBytesPerContextToken);
    }
}
