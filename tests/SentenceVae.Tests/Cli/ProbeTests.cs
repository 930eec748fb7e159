using System.Text.Json.Nodes;

namespace SentenceVae.Tests.Cli;

/// <summary>
/// A probe of the command line replayed: absurd configs, a second trainer, files that are not
/// regular files. Each is one line on stderr and exit 1 — no stack frame, no exception type, no C++.
/// </summary>
public sealed class ProbeTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-probe").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string Config(Action<JsonNode> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "configs", "lm-256.json")))!;
        json["train_data"] = TestPaths.Data("austen-valid.txt");
        json["valid_data"] = TestPaths.Data("austen-valid.txt");
        edit(json);
        string path = Path.Combine(dir, $"config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    private static void AssertOneCleanLine(int code, string err, string expected)
    {
        Assert.Equal(1, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, err);
        Assert.Contains(expected, err);
        foreach (var leak in new[] { "Exception", "   at ", "c10::", "internal error", "frame #" }) Assert.DoesNotContain(leak, err);
    }

    public static TheoryData<string, string, string> AbsurdConfigs => new()
    {
        { "model.max_position_embeddings", "1000000000", "max_position_embeddings 1,000,000,000 exceeds" },
        { "model.max_position_embeddings", "1000000", "max_position_embeddings 1,000,000 exceeds" },
        { "model.ffn_dim", "2147483647", "ffn_dim 2,147,483,647 exceeds" },
        { "model.vocab_size", "2147483647", "vocab_size 2,147,483,647 exceeds" },
        { "model.hidden_size", "1048576", "hidden_size 1,048,576 exceeds" },
        { "batch_size", "100000", "batch_size × seq_len" },
        { "model.hidden_size", "\"256\"", "model.hidden_size" },
        { "model.num_hidden_layers", "512", "more than half of this machine" },
    };

    [Theory]
    [MemberData(nameof(AbsurdConfigs))]
    public void AnAbsurdConfigIsOneLineNamingTheKeyBeforeAnythingIsAllocated(string key, string value, string expected)
    {
        string config = Config(json =>
        {
            var parts = key.Split('.');
            var node = parts.Length == 2 ? json[parts[0]]! : json;
            node[parts[^1]] = JsonNode.Parse(value);
            if (key == "model.num_hidden_layers") json["model"]!["hidden_size"] = 4096;   // 512 layers of 4096: ~100 GB
        });
        long before = Environment.WorkingSet;
        var (code, _, err) = CliRunner.Run("train", "lm", "--config", config, "--out", Path.Combine(dir, "run"));
        AssertOneCleanLine(code, err, expected);
        Assert.True(Environment.WorkingSet - before < 512L << 20, "nothing big was allocated");
    }

    [Fact]
    public void ALetterUnderSixtyCombiningMarksIsGeneratedFromAndScoredLikeAnyText()
    {
        string zalgo = Path.Combine(dir, "zalgo.txt");
        File.WriteAllText(zalgo, "z" + new string('\u0301', 60) + " said the storm. It was late.\n");
        string model = Path.Combine(TestPaths.RepoRoot, "models", "sllm-256-e2e");
        var (code, output, err) = CliRunner.Run("generate", "--model", model, "--prompt-file", zalgo, "--max-tokens", "8");
        Assert.True(code == 0, err);
        Assert.True(output.Length > 0);
        (code, output, err) = CliRunner.Run("eval", "sllm", "--model", model, "--data", zalgo, "--json");
        Assert.True(code == 0, err);
        Assert.Contains("bits_per_byte", output);
    }

    [Theory]
    [InlineData("generate", "lm-256", "a token-level model", "svae lm generate")]
    [InlineData("lm generate", "sllm-256-e2e", "a sentence-level LLM", "svae generate")]
    public void TheWrongKindOfModelSaysWhichCommandTakesIt(string command, string model, string holds, string use)
    {
        var args = command.Split(' ').Concat(["--model", Path.Combine(TestPaths.RepoRoot, "models", model), "--prompt", "Hello there."]).ToArray();
        var (code, _, err) = CliRunner.Run(args);
        AssertOneCleanLine(code, err, holds);
        Assert.Contains(use, err);
        Assert.DoesNotContain("missing keys", err);
    }

    [Fact]
    public void AByteOrderMarkInAPromptFileIsNotPartOfThePrompt()
    {
        string withBom = Path.Combine(dir, "bom.txt"), without = Path.Combine(dir, "plain.txt");
        File.WriteAllText(withBom, "Emma smiled.", new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        File.WriteAllText(without, "Emma smiled.");
        Assert.Equal(0xEF, File.ReadAllBytes(withBom)[0]);
        string model = Path.Combine(TestPaths.RepoRoot, "models", "lm-256");
        var a = CliRunner.Run("lm", "generate", "--model", model, "--prompt-file", withBom, "--max-tokens", "6", "--greedy");
        var b = CliRunner.Run("lm", "generate", "--model", model, "--prompt-file", without, "--max-tokens", "6", "--greedy");
        Assert.True(a.Code == 0, a.Err);
        Assert.Equal(b.Out, a.Out);
    }

    [Fact]
    public void AModelFileThatIsAFifoOrADirectoryLoopIsRefusedInOneLine()
    {
        string model = Path.Combine(dir, "fifo-model");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "models", "lm-256")).Where(f => !f.EndsWith("model.safetensors")))
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(model, "model.safetensors"))!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        var (code, _, err) = CliRunner.Run("lm", "generate", "--model", model, "--prompt", "Hello");
        AssertOneCleanLine(code, err, "not a regular file");

        string loopA = Path.Combine(dir, "loopA"), loopB = Path.Combine(dir, "loopB");
        File.CreateSymbolicLink(loopA, loopB);
        File.CreateSymbolicLink(loopB, loopA);
        (code, _, err) = CliRunner.Run("lm", "generate", "--model", loopA, "--prompt", "Hello");
        AssertOneCleanLine(code, err, "loopA");
        Assert.DoesNotContain("unknown tokenizer", err);
    }
}
