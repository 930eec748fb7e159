using System.CommandLine;
using SentenceVae.Data;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae vocab build</c>: a compact vocabulary (tiktoken file) from a training corpus.</summary>
internal static class VocabCommand
{
    public static Command Create(CliIO io)
    {
        var corpus = new Option<string>("--corpus") { Description = "training corpus (UTF-8, one document per line)", Required = true };
        var size = new Option<int>("--size") { Description = "ids in all, 3 special ids included (at most 16384 for our small models)", DefaultValueFactory = _ => 8192 };
        var output = new Option<string>("--out") { Description = "tiktoken file to write", Required = true };
        var build = new Command("build", "Build a compact vocabulary: the corpus's most frequent GPT-2 tokens + all 256 bytes.") { corpus, size, output };
        build.SetAction(parse =>
        {
            string corpusPath = parse.GetValue(corpus)!, outPath = parse.GetValue(output)!;
            var documents = CorpusReader.ReadDocuments(corpusPath).ToList();
            if (documents.Count == 0) throw new InvalidDataException($"{corpusPath}: no text to build a vocabulary from (every line is empty)");
            var tokens = CompactVocabulary.Build(documents, parse.GetValue(size));
            string? dir = Path.GetDirectoryName(Path.GetFullPath(outPath));
            if (dir is not null) Directory.CreateDirectory(dir);
            string tmp = outPath + ".tmp";
            using (var stream = File.Create(tmp)) CompactVocabulary.Write(tokens, stream);
            File.Move(tmp, outPath, overwrite: true);
            var compact = TextTokenizers.CreateCompact(tokens);
            long compactTokens = documents.Sum(d => (long)compact.CountTokens(d));
            long gpt2Tokens = documents.Sum(d => (long)TextTokenizers.Gpt2.CountTokens(d));
            io.Out.WriteLine($"wrote {outPath}: {tokens.Count} tokens + {CompactVocabulary.SpecialCount} special = {compact.VocabSize} ids; " +
                             $"corpus {compactTokens:N0} tokens (GPT-2: {gpt2Tokens:N0}, x{(double)compactTokens / gpt2Tokens:0.000})");
            return 0;
        });
        return new Command("vocab", "Vocabulary tools.") { build };
    }
}
