namespace SentenceVae.Tests.Cli;

/// <summary><c>svae bench --kernel</c>: the decode kernel against libtorch on one projection.</summary>
public class KernelBenchCliTests
{
    [Fact]
    public void KernelBenchTimesEveryMethodAtEveryRowCount()
    {
        var (code, output, error) = CliRunner.Run("bench", "--kernel", "96x64", "--runs", "1");
        Assert.True(code == 0, error);
        var rows = output.Split('\n').Where(l => l.StartsWith("| libtorch") || l.StartsWith("| kernel")).ToList();
        Assert.Equal(4 * 5, rows.Count);                                       // rows 1, 2, 4, 8 × (libtorch + fp32/bf16 × 1/2 threads)
        Assert.Contains("a plain one-thread read", output);
    }

    [Theory]
    [InlineData("96")]
    [InlineData("0x64")]
    [InlineData("axb")]
    public void AShapeThatIsNotOutTimesInIsAUsageError(string shape)
    {
        var (code, _, error) = CliRunner.Run("bench", "--kernel", shape);
        Assert.Equal(1, code);
        Assert.Contains("--kernel", error);
    }
}
