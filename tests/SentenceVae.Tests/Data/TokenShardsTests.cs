using System.Text;
using SentenceVae.Data;
using SentenceVae.Modules;
using SentenceVae.Tests.Cli;
using SentenceVae.Text;

namespace SentenceVae.Tests.Data;

/// <summary>Prepared shards give the corpus back exactly, are cut at document ends, and refuse damage.</summary>
public sealed class TokenShardsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-shards").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("compact", 1_000_000)]
    [InlineData("compact", 300)]            // small shards: several, each ending at a document's end
    [InlineData("gpt2", 1_000_000)]
    public void ShardsDecodeToTheExactDocumentsWithTheSegmentationOfTraining(string tokenizerName, long shardTokens)
    {
        var tokenizer = TextTokenizers.Load(tokenizerName);
        string corpus = Path.Combine(dir, "corpus.txt");
        var lines = File.ReadLines(TestPaths.Data("austen-valid.txt")).Where(l => l.Length > 0).Take(6)
            .Append("Odd text: \u00e9\u0301\u0301 \u4e2d\u6587, emoji \U0001F600!  Tabs\tand  spaces. Done").ToList();
        File.WriteAllText(corpus, string.Join("\n", lines) + "\n", new UTF8Encoding(false));
        var splitter = new SentenceVaeConfig { MaxSeqLen = 64 }.Splitter(tokenizer);
        var header = TokenShards.Write(corpus, dir, "train", tokenizer, splitter, 63, shardTokens);

        var documents = TokenShards.Read(dir, "train").ToList();
        Assert.Equal(lines, documents.Select(d => string.Concat(d.Select(tokenizer.Decode))));                       // the text, exactly
        var expected = CorpusReader.ReadTokenized(corpus, tokenizer, splitter).Select(d => d.PieceIds).ToList();     // what svae train reads
        Assert.Equal(expected.Select(d => d.Select(p => string.Join(",", p))), documents.Select(d => d.Select(p => string.Join(",", p))));
        Assert.Equal((lines.Count, expected.Sum(d => d.Count), expected.Sum(d => d.Sum(p => (long)p.Length))), ((int)header.Documents, (int)header.Pieces, header.Tokens));
        Assert.Equal(lines.Sum(l => Encoding.UTF8.GetByteCount(l)), header.Bytes);
        Assert.Equal(tokenizer.VocabSize > 65536 ? "uint32" : "uint16", header.TokenType);
        if (shardTokens < 1000) Assert.True(header.Shards.Count > 1, "small shards: more than one");
        Assert.Equal(header.Tokens, header.Shards.Sum(s => s.TokenCount));
        Assert.Equal(header.Tokens * (header.TokenType == "uint16" ? 2 : 4), header.Shards.Sum(s => new FileInfo(Path.Combine(dir, s.TokenFile)).Length));   // little-endian arrays, nothing else
    }

    [Fact]
    public void AShardCutShortIsRefusedByName()
    {
        string corpus = Path.Combine(dir, "corpus.txt");
        File.WriteAllText(corpus, "One sentence. Two sentences!\nA second document.\n");
        var tokenizer = TextTokenizers.Compact;
        var header = TokenShards.Write(corpus, dir, "valid", tokenizer, new SentenceVaeConfig { MaxSeqLen = 64 }.Splitter(tokenizer), 63);
        string tokens = Path.Combine(dir, header.Shards[0].TokenFile);
        File.WriteAllBytes(tokens, File.ReadAllBytes(tokens)[..^2]);
        var e = Assert.Throws<InvalidDataException>(() => TokenShards.Read(dir, "valid").ToList());
        Assert.Contains(header.Shards[0].TokenFile, e.Message);
    }

    [Fact]
    public void SvaePrepareWritesShardsWithTheModelsPieceBudget()
    {
        string model = Path.Combine(TestPaths.RepoRoot, "models", "sllm-256-e2e"), corpus = Path.Combine(dir, "corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(TestPaths.Data("austen-valid.txt")).Where(l => l.Length > 0).Take(3));
        var (code, output, error) = CliRunner.Run("prepare", "--model", model, "--data", corpus, "--out", dir, "--split", "valid");
        Assert.True(code == 0, error);
        Assert.Contains("documents", output);
        var header = TokenShards.ReadHeader(dir, "valid");
        var config = SentenceLlmConfig.Load(Path.Combine(model, "config.json"));
        Assert.Equal(config.Svae.MaxSeqLen - 1, header.PieceTokens);
        Assert.All(TokenShards.Read(dir, "valid").SelectMany(d => d), p => Assert.InRange(p.Length, 0, header.PieceTokens));
        var tokenizer = TextTokenizers.Load(model);
        Assert.Equal(File.ReadAllLines(corpus), TokenShards.Read(dir, "valid").Select(d => string.Concat(d.Select(tokenizer.Decode))));
    }
}
