namespace SentenceVae.Tests.Cli;

/// <summary><c>svae bench kernel</c>: the decode kernel against libtorch on one projection.</summary>
public class KernelBenchCliTests
{
    [Fact]
    public void KernelBenchTimesEveryMethodAtEveryRowCount()
    {
        var (code, output, error) = CliRunner.Run("bench", "kernel", "96x64", "--runs", "1");
        Assert.True(code == 0, error);
        var rows = output.Split('\n').Where(l => l.StartsWith("| libtorch") || l.StartsWith("| kernel")).ToList();
        Assert.Equal(4 * 7, rows.Count);                                       // rows 1, 2, 4, 8 × (libtorch + fp32/bf16/int8 × 1/2 threads)
        Assert.Contains(rows, r => r.StartsWith("| kernel int8"));
        Assert.Contains("a plain read of memory", output);
    }

    [Fact]
    public void LmBenchSetsEachStepAgainstTheBoundOfTheBytesItsFormatReads()
    {
        var (code, output, error) = CliRunner.Run("lm", "bench", "--config", "lm-256", "--context", "16", "--tokens", "2", "--prefill", "8", "--runs", "1",
            "--threads", "1", "--weights", "bf16");
        Assert.True(code == 0, error);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal("bf16", root.GetProperty("weights").GetString());
        Assert.True(root.GetProperty("read_gb_per_s").GetDouble() > 0);
        double vsBound = root.GetProperty("decode_vs_bound").GetProperty("16").GetDouble();
        double vsFp32 = root.GetProperty("decode_vs_fp32_bound").GetProperty("16").GetDouble();
        Assert.True(vsBound > vsFp32 && vsFp32 > 0, $"{vsBound} vs {vsFp32}");   // bf16 reads fewer bytes than fp32 would: a smaller bound
    }

    [Theory]
    [InlineData("96")]
    [InlineData("0x64")]
    [InlineData("axb")]
    public void AShapeThatIsNotOutTimesInIsAUsageError(string shape)
    {
        var (code, _, error) = CliRunner.Run("bench", "kernel", shape);
        Assert.Equal(1, code);
        Assert.Contains("bench kernel", error);
    }
}

/// <summary><c>svae eval --weights bf16</c>: what half-size weights cost in bits per byte.</summary>
public class HalfSizeWeightEvalTests
{
    [Fact]
    public void Bf16WeightsChangeTheShippedTokenModelsBitsPerByteByLessThanAThirdOfAPercent()
    {
        string model = Path.Combine(TestPaths.RepoRoot, "models", "lm-256");
        double BitsPerByte(string weights)
        {
            var (code, output, error) = CliRunner.Run("eval", "lm", "--model", model, "--data", TestPaths.Data("austen-valid.txt"), "--limit", "3000", "--weights", weights, "--json");
            Assert.True(code == 0, error);
            return System.Text.Json.JsonDocument.Parse(output).RootElement.GetProperty("bits_per_byte").GetDouble();
        }
        double fp32 = BitsPerByte("fp32"), bf16 = BitsPerByte("bf16"), int8 = BitsPerByte("int8");
        Assert.NotEqual(fp32, bf16);                                             // the weights really were rounded
        Assert.InRange(Math.Abs(bf16 - fp32) / fp32, 0, 0.003);
        Assert.NotEqual(fp32, int8);
        Assert.InRange(Math.Abs(int8 - fp32) / fp32, 0, 0.005);
        var (bad, _, badError) = CliRunner.Run("eval", "lm", "--model", model, "--data", TestPaths.Data("austen-valid.txt"), "--weights", "fp8");
        Assert.Equal(2, bad);                                                    // bad usage
        Assert.Contains("unknown weight format 'fp8' (use fp32, bf16 or int8)", badError);
    }
}
