using SentenceVae.Text;

namespace SentenceVae.Tests.Text;

public class TokenizerTests
{
    private static string RealText() => File.ReadAllText(TestPaths.Data("mobydick-ch01-18.txt"));

    [Fact]
    public void Gpt2FromTiktokenDataAndFromHuggingFaceFilesGiveIdenticalIds()
    {
        var tiktoken = TextTokenizers.Gpt2;
        var hf = TextTokenizers.FromHuggingFaceDirectory(TestPaths.Fixture("gpt2-hf"));
        string text = RealText() + " 3.50 isn't   ‘quoted’ 中文 😀\r\n\ttab";
        var ids = tiktoken.Encode(text);
        Assert.True(ids.Count > 40_000);
        Assert.Equal(ids, hf.Encode(text));
        Assert.Equal(text, hf.Decode(ids));
        Assert.Equal((50257, 50256, 50256), (tiktoken.VocabSize, tiktoken.BosId, tiktoken.EosId));
        Assert.Equal((50257, 50256, 50256, 50256), (hf.VocabSize, hf.BosId, hf.EosId, hf.PadId));
    }

    [Fact]
    public void KnownGpt2Ids() =>
        // "Hello world" is [15496, 995] in GPT-2, independently of this library.
        Assert.Equal(new[] { 15496, 995 }, TextTokenizers.Gpt2.Encode("Hello world"));

    [Fact]
    public void CompactVocabularyIsSmallWithDistinctSpecialIds()
    {
        var compact = TextTokenizers.Compact;
        Assert.InRange(compact.VocabSize, 1024, 16_384);
        Assert.Equal(3, new[] { compact.BosId, compact.EosId, compact.PadId }.Distinct().Count());
        Assert.All(new[] { compact.BosId, compact.EosId, compact.PadId }, id => Assert.InRange(id, compact.VocabSize - 3, compact.VocabSize - 1));
        var ids = compact.Encode(RealText());
        Assert.All(ids, id => Assert.InRange(id, 0, compact.VocabSize - 4));
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("compact")]
    public void RoundTripsAnyText(string kind)
    {
        var tok = TextTokenizers.Load(kind);
        var rng = new Random(7);
        for (int i = 0; i < 2000; i++)
        {
            string text = RandomText.Next(rng, 80);
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
        }
        string real = RealText();
        Assert.Equal(real, tok.Decode(tok.Encode(real)));
        string rare = "Ærøskøbing’s ﬁne — Ω≈ç√∫ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ゴジラ 🏳️‍🌈 \u0000\u0007 <|eos|><|pad|>";
        Assert.Equal(rare, tok.Decode(tok.Encode(rare)));
    }

    [Fact]
    public void SpecialTokenTextIsEncodedLiterallyAndSpecialIdsAreSkippedOnDecode()
    {
        var tok = TextTokenizers.Compact;
        var ids = tok.Encode("<|eos|>");
        Assert.DoesNotContain(tok.EosId, ids);
        Assert.Equal("ab", tok.Decode(new[] { tok.BosId }.Concat(tok.Encode("ab")).Append(tok.EosId).Append(tok.PadId)));
    }

    [Fact]
    public void CompactVocabularyUsesFewerIdsForAboutTheSameNumberOfTokens()
    {
        string text = File.ReadAllText(TestPaths.Data("austen-valid.txt"));
        int gpt2 = TextTokenizers.Gpt2.CountTokens(text), compact = TextTokenizers.Compact.CountTokens(text);
        Assert.InRange((double)compact / gpt2, 1.0, 1.15);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("compact")]
    public void SavedTokenizerLoadsBackFromAModelDirectory(string kind)
    {
        var tok = TextTokenizers.Load(kind);
        string dir = Directory.CreateTempSubdirectory("svae-tok").FullName;
        try
        {
            tok.Save(dir);
            var loaded = TextTokenizers.Load(dir);
            Assert.Equal((tok.Kind, tok.VocabSize, tok.BosId, tok.EosId, tok.PadId), (loaded.Kind, loaded.VocabSize, loaded.BosId, loaded.EosId, loaded.PadId));
            string text = RealText()[..5000];
            Assert.Equal(tok.Encode(text), loaded.Encode(text));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void HuggingFaceDirectorySavesAndLoadsBack()
    {
        var hf = TextTokenizers.FromHuggingFaceDirectory(TestPaths.Fixture("gpt2-hf"));
        string dir = Directory.CreateTempSubdirectory("svae-tok").FullName;
        try
        {
            hf.Save(dir);
            var loaded = TextTokenizers.FromDirectory(dir);
            Assert.Equal("hf-bpe", loaded.Kind);
            Assert.Equal(hf.Encode("Call me Ishmael."), loaded.Encode("Call me Ishmael."));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void BundledCompactVocabularyIsReproducibleFromTheTrainingCorpus()
    {
        // The documented command: svae vocab build --corpus data/austen-train.txt --size 8192 --out src/SentenceVae/Text/compact-8k.tiktoken
        var rebuilt = CompactVocabulary.Build(SentenceVae.Data.CorpusReader.ReadDocuments(TestPaths.Data("austen-train.txt")), 8192);
        var bundled = TextTokenizers.Compact;
        var fresh = TextTokenizers.CreateCompact(rebuilt);
        Assert.Equal(bundled.VocabSize, fresh.VocabSize);
        string text = File.ReadAllText(TestPaths.Data("austen-valid.txt"));
        Assert.Equal(bundled.Encode(text), fresh.Encode(text));
    }

    [Fact]
    public void BadDirectoriesGiveClearErrors()
    {
        string dir = Directory.CreateTempSubdirectory("svae-tok").FullName;
        try
        {
            var e = Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load(dir));
            Assert.Contains("no tokenizer found", e.Message);
            File.WriteAllText(Path.Combine(dir, "vocab.json"), "[1,2]");
            File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\na b\n");
            e = Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load(dir));
            Assert.Contains("vocab.json", e.Message);
            File.WriteAllText(Path.Combine(dir, TextTokenizers.DescriptorFile), "{\"type\":\"tiktoken\"}");
            e = Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load(dir));
            Assert.Contains(TextTokenizers.CompactVocabFile, e.Message);
            File.WriteAllText(Path.Combine(dir, TextTokenizers.CompactVocabFile), "IQ== 0\nnot-base64!! 1\n");
            e = Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load(dir));
            Assert.Contains("base64", e.Message);
            Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load("no-such-tokenizer"));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A tokenizer.json built from the committed GPT-2 vocab.json + merges.txt, as Hugging Face's tokenizers library writes it.</summary>
    private static string TokenizerJsonFixture(bool pairMerges)
    {
        string source = TestPaths.Fixture("gpt2-hf");
        var vocab = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(source, "vocab.json")))!;
        var merges = File.ReadLines(Path.Combine(source, "merges.txt")).Where(l => l.Length > 0 && !l.StartsWith("#version"))
            .Select(m => pairMerges ? (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonArray(m.Split(' ').Select(x => (System.Text.Json.Nodes.JsonNode)x!).ToArray()) : m).ToArray();
        var json = new System.Text.Json.Nodes.JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["id"] = 50256, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["pre_tokenizer"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false },
            ["model"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new System.Text.Json.Nodes.JsonArray(merges) },
        };
        string dir = Directory.CreateTempSubdirectory("svae-tokjson").FullName;
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        return dir;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TokenizerJsonGivesTheIdsOfVocabAndMerges(bool pairMerges)
    {
        string dir = TokenizerJsonFixture(pairMerges);
        try
        {
            var fromFiles = TextTokenizers.FromHuggingFaceDirectory(TestPaths.Fixture("gpt2-hf"));
            var fromJson = TextTokenizers.Load(dir);
            Assert.Equal((fromFiles.VocabSize, fromFiles.BosId, fromFiles.EosId, fromFiles.PadId), (fromJson.VocabSize, fromJson.BosId, fromJson.EosId, fromJson.PadId));
            string text = File.ReadAllText(TestPaths.Data("mobydick-ch01-18.txt"))[..20000] + " naïve café — 3.50 ‘quoted’ 😀 <|endoftext|>";
            var ids = fromJson.Encode(text);
            Assert.True(ids.Count > 1000);
            Assert.Equal(fromFiles.Encode(text), ids);
            Assert.Equal(text, fromJson.Decode(ids));

            string saved = Path.Combine(dir, "saved");
            fromJson.Save(saved);
            Assert.Equal(ids, TextTokenizers.Load(saved).Encode(text));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ANonBpeTokenizerJsonIsAClearError()
    {
        string dir = Directory.CreateTempSubdirectory("svae-tokjson").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}");
            var e = Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load(dir));
            Assert.Contains("Unigram", e.Message);
            Assert.Contains("tokenizer.json", e.Message);
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}}");
            Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load(dir));
        }
        finally { Directory.Delete(dir, true); }
    }
}
