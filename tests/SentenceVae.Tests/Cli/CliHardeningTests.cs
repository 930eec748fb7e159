using System.Text;
using SentenceVae.Checkpoints;
using SentenceVae.Cli;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Cli;

/// <summary>Bad input to the CLI: one line on stderr naming the file/option and the limit, a non-zero exit, nothing on stdout.</summary>
public class CliHardeningTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-cli-hard").FullName;
    private string Sllm => Path.Combine(dir, "sllm");
    private string Lm => Path.Combine(dir, "lm");

    public CliHardeningTests()
    {
        var tok = TextTokenizers.Compact;
        manual_seed(5);
        var svae = new SentenceVaeConfig { HiddenSize = 16, NumAttentionHeads = 2, VocabSize = tok.VocabSize, BosId = tok.BosId, EosId = tok.EosId, PadId = tok.PadId, MaxSeqLen = 24, Dropout = 0, TieWordEmbeddings = true };
        var backbone = new OptConfig { VocabSize = tok.VocabSize, HiddenSize = 16, NumHiddenLayers = 1, FfnDim = 32, NumAttentionHeads = 2, MaxPositionEmbeddings = 12, Dropout = 0 };
        using (var model = new SentenceLlm(new SentenceLlmConfig { Svae = svae, Backbone = backbone })) SentenceLlmCheckpoint.Save(model, Sllm, tok);
        using (var lm = new OptForCausalLm(backbone with { MaxPositionEmbeddings = 20, PadTokenId = tok.PadId, BosTokenId = tok.BosId, EosTokenId = tok.EosId }))
        {
            HuggingFaceCheckpoint.SaveOpt(lm, Lm);
            tok.Save(Lm);
        }
    }

    public void Dispose() => Directory.Delete(dir, true);

    private static (int Code, string Out, string Err) Run(byte[] stdin, params string[] args) => CliRunner.Run(stdin, args);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static void AssertOneLineError((int Code, string Out, string Err) r, params string[] mentions)
    {
        Assert.NotEqual(0, r.Code);
        Assert.NotEqual(70, r.Code);                                                     // not an internal error
        Assert.Equal("", r.Out);                                                         // nothing written before the error
        Assert.StartsWith("svae: ", r.Err);
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        foreach (var m in mentions) Assert.Contains(m, r.Err);
    }

    private const string Long = "One, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, thirteen.";

    [Fact]
    public void AnOverlongPromptIsAnErrorBeforeAnyOutputUnlessTruncated()
    {
        AssertOneLineError(Run("generate", "--model", Sllm, "--prompt", Long, "--max-tokens", "2"), "13 pieces", "hold 11", "--truncate-prompt");
        var ok = Run("generate", "--model", Sllm, "--prompt", Long, "--max-tokens", "6", "--truncate-prompt", "--ignore-stop", "--piece-tokens", "3", "--greedy");
        Assert.Equal(0, ok.Code);
        Assert.StartsWith("four, five, ", ok.Out);                                    // the last 10 pieces of the prompt (12 − start − 1)
        Assert.DoesNotContain("One,", ok.Out);

        AssertOneLineError(Run("lm", "generate", "--model", Lm, "--prompt", Long + Long, "--max-tokens", "4"), "--truncate-prompt", "hold 20");
        Assert.Equal(0, Run("lm", "generate", "--model", Lm, "--prompt", Long + Long, "--max-tokens", "4", "--truncate-prompt").Code);
    }

    [Theory]
    [InlineData("--max-tokens", "0")]
    [InlineData("--max-tokens", "-1")]
    [InlineData("--piece-tokens", "0")]
    [InlineData("--piece-tokens", "5000")]
    [InlineData("--repetition-penalty", "0")]
    [InlineData("--frequency-penalty", "3")]
    public void AnOutOfRangeLimitIsAnError(string flag, string value) =>
        AssertOneLineError(Run("generate", "--model", Sllm, "--prompt", "Hello.", flag, value), flag, value);

    [Fact]
    public void PromptComesFromAFileOrStandardInputAndAMissingFileIsNamed()
    {
        string file = Path.Combine(dir, "prompt.txt");
        File.WriteAllText(file, "It was a dark night.");
        var fromFile = Run("generate", "--model", Sllm, "--prompt-file", file, "--max-tokens", "2", "--ignore-stop", "--greedy");
        Assert.Equal(0, fromFile.Code);
        Assert.StartsWith("It was a dark night.", fromFile.Out);
        var fromStdin = Run(Encoding.UTF8.GetBytes("It was a dark night."), "generate", "--model", Sllm, "--prompt-file", "-", "--max-tokens", "2", "--ignore-stop", "--greedy");
        Assert.Equal(fromFile.Out, fromStdin.Out);
        AssertOneLineError(Run("generate", "--model", Sllm, "--prompt-file", Path.Combine(dir, "nope.txt")), "nope.txt");
        AssertOneLineError(Run("lm", "generate", "--model", Lm, "--prompt-file", Path.Combine(dir, "nope.txt")), "nope.txt");
        AssertOneLineError(Run("generate", "--model", Sllm, "--prompt", "a", "--prompt-file", file), "exactly one");
    }

    [Fact]
    public void EvaluationRefusesNothingToScoreAndNegativeLimits()
    {
        string empty = Path.Combine(dir, "empty.txt");
        File.WriteAllText(empty, "\n\n");
        AssertOneLineError(Run("eval", "sllm", "--model", Sllm, "--data", empty, "--json"), "empty.txt", "no text");
        AssertOneLineError(Run("eval", "lm", "--model", Lm, "--data", empty), "empty.txt");
        AssertOneLineError(Run("eval", "lm", "--model", Lm, "--data", TestPaths.Data("austen-valid.txt"), "--limit", "-5"), "--limit");
    }

    [Fact]
    public void WeightsHoldingNaNAreRefusedAtLoadNamingTheTensor()
    {
        string broken = Path.Combine(dir, "broken");
        using (var model = SentenceLlmCheckpoint.Load(Sllm))
        {
            using (no_grad()) model.named_parameters().Single(p => p.name == "fc.bias").parameter[1] = tensor(float.NaN);
            SentenceLlmCheckpoint.Save(model, broken, TextTokenizers.Compact);
        }
        string valid = Path.Combine(dir, "valid.txt");
        File.WriteAllText(valid, "Some text. More text.\n");
        AssertOneLineError(Run("eval", "sllm", "--model", broken, "--data", valid, "--json"), "fc.bias", "NaN");
        var e = Assert.Throws<CheckpointException>(() => SentenceLlmCheckpoint.Load(broken));
        Assert.Contains("fc.bias", e.Message);
    }

    [Fact]
    public void ACudaDeviceWithoutCudaIsOneClearLine()
    {
        if (cuda.is_available()) return;                                                // a CUDA machine runs it for real
        AssertOneLineError(Run("generate", "--model", Sllm, "--prompt", "Hi.", "--device", "cuda"), "cuda", "CUDA");
    }

    [Fact]
    public void SmallerCasesAreOneClearLine()
    {
        // export with a config that is not JSON
        string bad = Path.Combine(dir, "badconfig");
        Directory.CreateDirectory(bad);
        File.WriteAllText(Path.Combine(bad, "config.json"), "{ not json");
        AssertOneLineError(Run("export", "--model", bad, "--out", Path.Combine(dir, "out")), "config.json", "invalid JSON");

        // bench --json into a folder that does not exist: refused before the run
        AssertOneLineError(Run("bench", "models", "--baseline", Lm, "--models", Sllm, "--data", TestPaths.Data("austen-valid.txt"), "--json", Path.Combine(dir, "no", "such", "bench.json")), "does not exist");

        // a benchmark text shorter than its longest prompt
        string shortText = Path.Combine(dir, "short.txt");
        File.WriteAllText(shortText, "A short text. Only this.\n");
        AssertOneLineError(Run("bench", "models", "--baseline", Lm, "--models", Sllm, "--data", shortText, "--runs", "1"), "longest prompt", "--prompt-tokens");

        // a vocabulary from an empty corpus
        string empty = Path.Combine(dir, "empty-corpus.txt");
        File.WriteAllText(empty, "\n");
        string vocab = Path.Combine(dir, "v.tiktoken");
        AssertOneLineError(Run("vocab", "build", "--corpus", empty, "--out", vocab), "empty-corpus.txt");
        Assert.False(File.Exists(vocab));
    }

    [Theory]
    [InlineData("lm")]
    [InlineData("sllm")]
    public void EvalLimitCutsInsideALongDocument(string kind)
    {
        string data = TestPaths.Data("austen-valid.txt");
        int firstDocumentBytes = Encoding.UTF8.GetByteCount(File.ReadLines(data).First());
        var r = Run("eval", kind, "--model", kind == "lm" ? Lm : Sllm, "--data", data, "--limit", "300", "--json");
        Assert.Equal(0, r.Code);
        using var json = System.Text.Json.JsonDocument.Parse(r.Out);
        long bytes = json.RootElement.GetProperty("bytes").GetInt64(), tokens = json.RootElement.GetProperty("tokens").GetInt64();
        Assert.InRange(bytes, 500, firstDocumentBytes / 2);                              // a part of the first document only
        // Whole pieces up to 300 text tokens; the token model scores no EOS for the cut document, the SLLM one per piece.
        var textTokens = TextTokenizers.Compact.CountTokens(File.ReadLines(data).First()[..(int)Math.Min(bytes, firstDocumentBytes)]);
        if (kind == "lm") Assert.InRange(tokens, 250, 310);                            // the limit counts each piece on its own
        else Assert.InRange(tokens, 260, 340);
        Assert.True(textTokens >= 250, $"the scored text holds {textTokens} tokens");
    }
}

/// <summary>A misspelt command is answered with the closest command of the level it was given to, and that level's help.</summary>
public class TypoSuggestionTests
{
    [Theory]
    [InlineData(new[] { "trian", "lm", "--config", "x" }, "'trian'; did you mean 'train'? (see 'svae --help')")]
    [InlineData(new[] { "lm", "genrate", "--model", "x" }, "'genrate'; did you mean 'generate'? (see 'svae lm --help')")]
    [InlineData(new[] { "train", "slm", "--config", "x" }, "'slm'; did you mean 'lm' or 'sllm'? (see 'svae train --help')")]
    [InlineData(new[] { "generat", "--prompt", "x" }, "'generat'; did you mean 'generate'? (see 'svae --help')")]
    public void EveryLevelSuggestsItsOwnCommands(string[] args, string expected)
    {
        var (code, _, error) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains(expected, error);
    }
}

/// <summary>A command that can run for minutes says how far it is (on stderr), and is quiet with --json.</summary>
public sealed class EvalProgressTests : IDisposable
{
    private readonly string file = Path.GetTempFileName();

    public void Dispose() => File.Delete(file);

    [Fact]
    public void EvalReportsItsProgressUnlessAskedForJson()
    {
        File.WriteAllLines(file, File.ReadLines(TestPaths.Data("austen-valid.txt")).Where(l => l.Length > 300).Take(12).Select(l => l[..300]));
        string model = Path.Combine(TestPaths.RepoRoot, "models", "lm-256");
        var (code, output, error) = CliRunner.Run("eval", "lm", "--model", model, "--data", file);
        Assert.True(code == 0, error);
        Assert.Contains("bits/byte", output);
        var lines = error.Split('\n').Where(l => l.StartsWith("evaluating ")).ToList();
        Assert.True(lines.Count >= 3, error);
        Assert.Contains("100 %", lines[^1].Replace("100%", "100 %"));
        Assert.Contains("left", lines[^1]);
        var (jsonCode, _, quiet) = CliRunner.Run("eval", "lm", "--model", model, "--data", file, "--json");
        Assert.Equal(0, jsonCode);
        Assert.DoesNotContain("evaluating", quiet);
    }
}
