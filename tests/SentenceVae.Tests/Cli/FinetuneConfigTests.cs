using SentenceVae.Cli.Commands;

namespace SentenceVae.Tests.Cli;

/// <summary>svae finetune reads a user's text into documents and holds back its last tenth; the run starts from the model.</summary>
public sealed class FinetuneConfigTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-finetune").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void ParagraphsAreJoinedLinesAndAFileWithoutBlankLinesIsOneDocumentPerLine()
    {
        Assert.Equal(["One two.", "Three four five.", "Six."], FinetuneCommand.Documents("One\ntwo.\n\r\nThree four\n  five.\n\n\n\nSix.\n"));
        Assert.Equal(["A line.", "Another line.", "A third."], FinetuneCommand.Documents("A line.\nAnother line.\r\nA third.\n"));   // a trailing newline is no blank line
    }

    [Theory]
    [InlineData("models/lm-256", "lm")]
    [InlineData("models/sllm-256-e2e", "sllm")]
    public void TheLastTenthIsHeldBackAndTheRunStartsFromTheModel(string model, string kind)
    {
        string text = Path.Combine(dir, "book.txt"), run = Path.Combine(dir, "run-" + kind);
        var paragraphs = Enumerable.Range(0, 50).Select(i => $"Paragraph {i} says something of its own, at some length, line {i}.").ToList();
        File.WriteAllText(text, string.Join("\n\n", paragraphs) + "\n");
        string source = Path.Combine(TestPaths.RepoRoot, model);
        var config = FinetuneCommand.Config(source, text, run, minutes: 1, threads: 1, lr: 3e-4, seed: 7);
        Assert.Equal((kind, source, source), (config.Kind, config.InitFrom, config.Tokenizer));
        var train = File.ReadAllLines(config.TrainData);
        var valid = File.ReadAllLines(config.ValidData);
        Assert.Equal(paragraphs, train.Concat(valid));                          // nothing lost, order kept
        Assert.Equal(5, valid.Length);                                          // the last tenth by bytes: 5 of 50 equal paragraphs
        Assert.Equal(kind == "lm" ? 256 : 64, kind == "lm" ? config.SeqLen : config.WindowPieces);   // the model's trained context
    }
}
