namespace SentenceVae.Tests.Cli;

public class ServeCliTests
{
    [Theory]
    [InlineData("no-such-model", "8080", "no-such-model: no such model directory")]
    [InlineData("models/lm-256", "70000", "--port 70000: must be in 0..65535")]
    public void BadServeArgumentsAreOneLineBeforeListening(string model, string port, string message)
    {
        string dir = model.StartsWith("models/") ? Path.Combine(TestPaths.RepoRoot, model) : model;
        var (code, output, error) = CliRunner.Run("serve", "--model", dir, "--port", port);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal($"svae: {message}", error.Trim());
    }

    [Fact]
    public void ServeBenchRefusesAMissingJsonFolderBeforeRunning()
    {
        var (code, _, error) = CliRunner.Run("serve-bench", "--model", Path.Combine(TestPaths.RepoRoot, "models", "lm-256"), "--json", "/nonexistent-dir/x.json");
        Assert.Equal(1, code);
        Assert.StartsWith("svae: --json /nonexistent-dir/x.json: directory /nonexistent-dir does not exist", error);
    }

    [Fact]
    public void ServeBenchMeasuresEveryConcurrencyAndPrintsTheTable()
    {
        string json = Path.Combine(Path.GetTempPath(), $"serve-bench-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, error) = CliRunner.Run("serve-bench", "--model", Path.Combine(TestPaths.RepoRoot, "models", "lm-256"),
                "--concurrency", "1", "3", "--requests", "2", "--max-tokens", "8", "--data", TestPaths.Data("austen-valid.txt"), "--json", json);
            Assert.True(code == 0, error);
            var rows = output.Split('\n').Where(l => l.StartsWith("| lm-256")).ToList();
            Assert.Equal(2, rows.Count);
            Assert.Contains("| lm-256 | 3 | 6 | 48 |", rows[1]);                       // 3 clients × 2 requests × 8 tokens
            using var rowsJson = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            var second = rowsJson.RootElement[1];
            foreach (var key in new[] { "model", "concurrency", "tokens_per_s", "ttft_p50_ms", "ttft_p95_ms", "itl_p50_ms", "itl_p95_ms" })
                Assert.True(second.TryGetProperty(key, out _), $"the JSON rows have \"{key}\"");
            Assert.Equal(3, second.GetProperty("concurrency").GetInt32());
            Assert.True(second.GetProperty("tokens_per_s").GetDouble() > 0);
        }
        finally { File.Delete(json); }
    }
}
