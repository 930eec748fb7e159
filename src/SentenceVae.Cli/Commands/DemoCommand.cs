using System.CommandLine;
using System.Diagnostics;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae demo</c>: the shipped models in one minute — reconstruction, streamed generation, and the benchmark on a short slice.</summary>
internal static class DemoCommand
{
    public static Command Create(CliIO io)
    {
        var root = new Option<string?>("--repo") { Description = "folder holding models/ and data/ (default: found from the current directory upwards)" };
        var command = new Command("demo", "Show the shipped models: SentenceVAE reconstruction, sentence-by-sentence generation, benchmark table.") { root };
        command.SetAction(async (parse, cancel) =>
        {
            var watch = Stopwatch.StartNew();
            string repo = parse.GetValue(root) ?? FindRepo();
            string Models(string name) => Path.Combine(repo, "models", name);
            string valid = Path.Combine(repo, "data", "austen-valid.txt");
            var firstDocument = CorpusReader.ReadDocuments(valid).First();

            io.Out.WriteLine("== SentenceVAE: each piece → one vector → back (models/vae-256-h1)");
            using (var vae = SentenceVaeCheckpoint.Load(Models("vae-256-h1")))
            {
                var tok = TextTokenizers.Load(Models("vae-256-h1"));
                var splitter = SentenceSplitter.ForModel(vae.Config, tok);
                var pieces = splitter.Split(firstDocument[..Math.Min(600, firstDocument.Length)]).Take(6).ToList();
                var codec = new SentenceCodec(vae);
                var decoded = codec.Decode(codec.Encode(pieces.Select(p => tok.Encode(p).ToArray()).ToList()), new GenerationOptions { MaxNewTokens = vae.Config.MaxSeqLen });
                for (int i = 0; i < pieces.Count; i++)
                {
                    string back = tok.Decode(decoded[i]);
                    io.Out.WriteLine($"  {(back == pieces[i] ? "=" : "≠")} {pieces[i].TrimEnd()}");
                    if (back != pieces[i]) io.Out.WriteLine($"    → {back.TrimEnd()}");
                }
            }

            const string prompt = "It was a fine morning at Longbourn, and Elizabeth walked out with her sister. ";
            io.Out.WriteLine();
            io.Out.WriteLine("== Sentence-level LLM: one backbone step per piece, streamed (models/sllm-256-h1)");
            io.Out.Write("  " + prompt);
            io.Out.Flush();
            using (var sllm = SentenceLlmCheckpoint.Load(Models("sllm-256-h1")))
            {
                var generator = new SentenceLlmGenerator(sllm, TextTokenizers.Load(Models("sllm-256-h1")));
                await foreach (var piece in generator.StreamAsync(prompt, new SentenceGenerationOptions { MaxPieces = 6, Tokens = new GenerationOptions { MaxNewTokens = 40 } }, cancel))
                {
                    io.Out.Write($"[{piece.Text}]");
                    io.Out.Flush();
                }
            }
            io.Out.WriteLine();

            io.Out.WriteLine();
            io.Out.WriteLine("== Benchmark on the first ~6,000 characters of data/austen-valid.txt (models/lm-256 vs models/sllm-256-h1)");
            var slice = new List<string> { firstDocument[..Math.Min(6000, firstDocument.Length)] };
            var report = Benchmark.Run(Models("lm-256"), [Models("sllm-256-h1")], slice,
                new BenchmarkOptions { Runs = 3, PromptTokens = [64, 256, 1024], OutputTokens = 24 });
            io.Out.Write(BenchCommand.Markdown(report));
            io.Out.WriteLine();
            io.Out.WriteLine($"(demo took {watch.Elapsed.TotalSeconds:0} s; the full benchmark: see README)");
            return 0;
        });
        return command;
    }

    private static string FindRepo()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Directory.Exists(Path.Combine(dir.FullName, "models")) && Directory.Exists(Path.Combine(dir.FullName, "data"))) return dir.FullName;
        throw new DirectoryNotFoundException("no folder with models/ and data/ found from here upwards; pass --repo");
    }
}
