using System.Text;
using System.Text.Json;
using SentenceVae.Cli;

namespace SentenceVae.Tests.Cli;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(byte[] stdin, params string[] args) => CliRunner.Run(stdin, args);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Theory]
    [InlineData("mobydick-ch01-18.txt", "lossless")]
    [InlineData("austen-valid.txt", "lossless")]
    [InlineData("mobydick-ch01-18.txt", "reference")]
    public void SplitJsonRoundTripsACorpusFile(string file, string mode)
    {
        string path = TestPaths.Data(file);
        var (code, output, err) = Run("split", "--json", "--mode", mode, path);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        var texts = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()).ToList();
        Assert.True(texts.Count > 1000);
        // Every corpus line ends with a newline, so even the reference cutter drops nothing here.
        Assert.Equal(File.ReadAllBytes(path), Encoding.UTF8.GetBytes(string.Concat(texts)));
    }

    [Fact]
    public void SplitReadsStandardInputAndPrintsOnePiecePerLine()
    {
        var (code, output, _) = Run(Encoding.UTF8.GetBytes("One. Two,\nthree"), "split", "-");
        Assert.Equal(0, code);
        Assert.Equal("One. \nTwo,\\n\nthree\n", output);
    }

    [Fact]
    public void TokenizeEncodesAndDecodesBack()
    {
        string text = "It is a truth universally acknowledged.\n";
        var (code, ids, _) = Run(Encoding.UTF8.GetBytes(text), "tokenize", "--tokenizer", "compact");
        Assert.Equal(0, code);
        var (code2, decoded, _) = Run(Encoding.UTF8.GetBytes(ids), "tokenize", "--tokenizer", "compact", "--decode");
        Assert.Equal(0, code2);
        Assert.Equal(text, decoded);
    }

    [Theory]
    [InlineData("split", "/no/such/file.txt")]
    [InlineData("split", "--mode", "sideways", "-")]
    [InlineData("tokenize", "--tokenizer", "/no/such/dir", "-")]
    [InlineData("frobnicate")]
    public void BadInputGivesOneLineOnStderrAndNonZeroExit(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.NotEqual(0, code);
        Assert.StartsWith("svae: ", err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void InvalidUtf8IsRejected()
    {
        var (code, _, err) = Run([0x61, 0xFF, 0x62], "split", "-");
        Assert.Equal(1, code);
        Assert.Equal("svae: standard input: not valid UTF-8\n", err.Replace("\r\n", "\n"));
    }

    [Fact]
    public void LmGenerateStreamsFromAModelDirectory()
    {
        string dir = Directory.CreateTempSubdirectory("svae-lm").FullName;
        try
        {
            using (var model = SentenceVae.Tests.Inference.TokenGeneratorTests.TinyCompactLm(7))
                SentenceVae.Checkpoints.HuggingFaceCheckpoint.SaveOpt(model, dir);
            SentenceVae.Text.TextTokenizers.Compact.Save(dir);
            var (code, output, err) = Run("lm", "generate", "--model", dir, "--prompt", "Elizabeth", "--max-tokens", "6");
            Assert.Equal("", err);
            Assert.Equal(0, code);
            Assert.StartsWith("Elizabeth", output);
            Assert.True(output.Length > "Elizabeth\n".Length);
            var (bad, _, badErr) = Run("lm", "generate", "--model", dir, "--prompt", "x", "--top-p", "0");
            Assert.Equal(1, bad);
            Assert.StartsWith("svae: ", badErr);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void VaeReconstructAndEncodeWorkOnAModelDirectory()
    {
        string dir = Directory.CreateTempSubdirectory("svae-vae").FullName;
        try
        {
            var tok = SentenceVae.Text.TextTokenizers.Compact;
            TorchSharp.torch.manual_seed(3);
            using (var model = new SentenceVae.Modules.SentenceVaeModel(new SentenceVae.Modules.SentenceVaeConfig
                   { HiddenSize = 32, NumAttentionHeads = 4, VocabSize = tok.VocabSize, BosId = tok.BosId, EosId = tok.EosId, PadId = tok.PadId, MaxSeqLen = 16 }))
                SentenceVae.Checkpoints.SentenceVaeCheckpoint.Save(model, dir, tok);

            var (code, output, err) = Run("vae", "reconstruct", "--model", dir, "--text", "Call me Ishmael. Some years ago, never mind how long");
            Assert.Equal("", err);
            Assert.Equal(0, code);
            var lines = output.TrimEnd('\n').Split('\n');
            Assert.StartsWith("≠ Call me Ishmael. ", lines[0]);           // an untrained model reconstructs nothing
            Assert.Equal("0/3 pieces reconstructed exactly", lines[^1]);

            (code, output, err) = Run(Encoding.UTF8.GetBytes("One. Two."), "vae", "encode", "--model", dir, "-");
            Assert.Equal(0, code);
            var objects = output.TrimEnd('\n').Split('\n').Select(l => JsonDocument.Parse(l).RootElement).ToList();
            Assert.Equal(new[] { "One. ", "Two." }, objects.Select(o => o.GetProperty("text").GetString()));
            Assert.All(objects, o => Assert.Equal(32, o.GetProperty("vector").GetArrayLength()));

            (code, _, err) = Run("vae", "reconstruct", "--model", Path.Combine(dir, "missing"), "--text", "x");
            Assert.Equal(1, code);
            Assert.StartsWith("svae: ", err);

            // A FILE argument is a file: a missing one or a directory is an error, never text to reconstruct.
            foreach (var notAFile in new[] { Path.Combine(dir, "nope.txt"), dir })
            {
                (code, output, err) = Run("vae", "reconstruct", "--model", dir, notAFile);
                Assert.Equal(1, code);
                Assert.Equal("", output);
                Assert.Contains(notAFile, err);
                Assert.Single(err.TrimEnd('\n').Split('\n'));
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void HelpListsTheCommands()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        foreach (var command in new[] { "split", "tokenize", "stats", "vocab", "vae", "lm" }) Assert.Contains(command, output);
    }
}
