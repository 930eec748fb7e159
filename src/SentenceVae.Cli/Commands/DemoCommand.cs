using System.CommandLine;
using System.Diagnostics;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae demo</c>: the shipped models in one minute — next-piece prediction, streamed generation beside the token model, and the benchmark on a short slice.</summary>
internal static class DemoCommand
{
    /// <summary>The shipped sentence-level model the demo shows.</summary>
    public const string Sllm = "sllm-256-e2e";

    public static Command Create(CliIO io)
    {
        var root = new Option<string?>("--repo") { Description = "folder holding models/ and data/ (default: found from the current directory upwards)" };
        var command = new Command("demo", "Show the shipped models: next-sentence prediction, generation beside the token model, benchmark table.") { root };
        command.SetAction(async (parse, cancel) =>
        {
            var watch = Stopwatch.StartNew();
            string repo = parse.GetValue(root) ?? FindRepo();
            string Models(string name) => Path.Combine(repo, "models", name);
            string valid = Path.Combine(repo, "data", "austen-valid.txt");
            var firstDocument = CorpusReader.ReadDocuments(valid).First();

            io.Out.WriteLine($"== Next-sentence prediction: the model reads the text so far and writes the next piece (models/{Sllm})");
            using var sllm = SentenceLlmCheckpoint.Load(Models(Sllm));
            var tok = TextTokenizers.Load(Models(Sllm));
            var generator = new SentenceLlmGenerator(sllm, tok);
            var pieces = generator.PromptPieces(firstDocument[..Math.Min(1500, firstDocument.Length)]);
            var greedy = new SentenceGenerationOptions { MaxPieces = 1, IgnoreStop = true, Tokens = new GenerationOptions { MaxNewTokens = 40 } };
            for (int i = 2; i < Math.Min(8, pieces.Count); i++)
            {
                var predicted = tok.Decode(generator.Run([SentenceLlmGenerator.Row(pieces.Take(i).ToList(), greedy)]).SelectMany(step => step).First(e => e.End is null).Ids);
                io.Out.WriteLine($"  after …{VaeCommand.Show(tok.Decode(pieces[i - 1]))}");
                io.Out.WriteLine($"    text:  {VaeCommand.Show(tok.Decode(pieces[i]))}");
                io.Out.WriteLine($"    model: {VaeCommand.Show(predicted)}");
            }

            const string prompt = "It was a fine morning at Longbourn, and Elizabeth walked out with her sister.";
            io.Out.WriteLine();
            io.Out.WriteLine($"== Generation from the same prompt, greedy: the sentence-level model (one backbone step per [piece]) and the token model (models/lm-256)");
            io.Out.Write($"  {Sllm}: " + prompt);
            io.Out.Flush();
            var sllmWatch = Stopwatch.StartNew();
            int sllmTokens = 0;
            await foreach (var piece in generator.StreamAsync(prompt, new SentenceGenerationOptions { MaxPieces = 6, Tokens = new GenerationOptions { MaxNewTokens = 40 } }, cancel))
            {
                io.Out.Write($"[{piece.Text}]");
                io.Out.Flush();
                sllmTokens += piece.Ids.Length;
            }
            io.Out.WriteLine($"  ({sllmTokens / sllmWatch.Elapsed.TotalSeconds:0} tokens/s with the prefill)");
            using (var lm = HuggingFaceCheckpoint.LoadOpt(Models("lm-256")))
            {
                var tokenGenerator = new TokenGenerator(lm, TextTokenizers.Load(Models("lm-256")));
                io.Out.Write("  lm-256: " + prompt);
                var lmWatch = Stopwatch.StartNew();
                int lmTokens = 0;
                await foreach (var token in tokenGenerator.StreamAsync(prompt, new GenerationOptions { MaxNewTokens = Math.Max(8, sllmTokens) }, cancel))
                {
                    io.Out.Write(token.Text);
                    io.Out.Flush();
                    lmTokens++;
                }
                io.Out.WriteLine($"  ({lmTokens / lmWatch.Elapsed.TotalSeconds:0} tokens/s with the prefill)");
            }
            sllm.Dispose();

            io.Out.WriteLine();
            io.Out.WriteLine($"== Benchmark on the first ~6,000 characters of data/austen-valid.txt (models/lm-256 vs models/{Sllm})");
            var slice = new List<string> { firstDocument[..Math.Min(6000, firstDocument.Length)] };
            var report = Benchmark.Run(Models("lm-256"), [Models(Sllm)], slice,
                new BenchmarkOptions { Runs = 3, PromptTokens = [64, 256, 1024], OutputTokens = 24 });
            io.Out.Write(Benchmark.Markdown(report));
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
