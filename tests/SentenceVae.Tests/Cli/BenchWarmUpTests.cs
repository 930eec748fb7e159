using System.Text.Json;
using SentenceVae.Evaluation;
using SentenceVae.Inference;

namespace SentenceVae.Tests.Cli;

/// <summary>A benchmark times only the steps it reports: its engine's one-time work (packing the kernels' weights, first calls) is done before the first timed step, and said.</summary>
public class BenchWarmUpTests
{
    [Theory]
    [InlineData("libtorch")]
    [InlineData("fp32")]
    [InlineData("bf16")]
    public void EveryTimedRegionOfLmBenchStartsWithTheWeightsPacked(string weights)
    {
        var seen = new List<(bool UsesKernels, long Packed)>();
        EngineTiming.TimingStarts.Value = engine => seen.Add((engine.UsesKernels, engine.KernelWeightBytes));
        try
        {
            var (code, output, error) = CliRunner.Run("lm", "bench", "--config", "lm-256", "--context", "16", "--tokens", "2", "--runs", "2", "--prefill", "16", "--threads", "1", "--weights", weights);
            Assert.True(code == 0, error);
            using var json = JsonDocument.Parse(output);
            Assert.True(json.RootElement.GetProperty("warm_up_s").GetProperty("16").GetDouble() > 0);
            Assert.Contains("one-time work", error);
        }
        finally { EngineTiming.TimingStarts.Value = null; }
        Assert.True(seen.Count >= 2, $"{seen.Count} timed regions seen");
        bool kernels = weights != "libtorch";
        Assert.All(seen, s => Assert.Equal(kernels, s.UsesKernels));
        if (kernels) Assert.All(seen, s => Assert.True(s.Packed > 0, "a timed region started before the engine had packed its weights"));
    }

    [Fact]
    public void AWarmUpRunsAtLeastItsStepsAndLeavesTheKernelsPacked()
    {
        using var lm = SentenceVae.Tests.Inference.TokenGeneratorTests.TinyCompactLm(5);
        using var engine = new TokenEngine(lm, lm.Config.EosTokenId, 1, 40, SentenceVae.Modules.Kernels.WeightFormat.BFloat16);
        Assert.Equal(0, engine.KernelWeightBytes);
        int rows = 0;
        EngineTiming.WarmUp(engine, () => { rows++; return [EngineTiming.TokenRow(8, 4)]; }, steps: 20);
        Assert.True(engine.KernelWeightBytes > 0);
        Assert.True(rows >= 5, $"{rows} rows of 4 steps cannot make 20 steps");
    }
}
