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
            // Text a person reads: the reading defaults (sampling, mild repetition control), seeded so the demo is the same every run.
            var next = new SentenceGenerationOptions { MaxPieces = 1, IgnoreStop = true, Tokens = GenerationOptions.Reading with { MaxNewTokens = 40, Seed = 1 } };
            for (int i = 2; i < Math.Min(8, pieces.Count); i++)
            {
                var predicted = tok.Decode(generator.Run([SentenceLlmGenerator.Row(pieces.Take(i).ToList(), next with { Tokens = next.Tokens with { Seed = i } })]).SelectMany(step => step).First(e => e.End is null).Ids);
                io.Out.WriteLine($"  after …{VaeCommand.Show(tok.Decode(pieces[i - 1]))}");
                io.Out.WriteLine($"    text:  {VaeCommand.Show(tok.Decode(pieces[i]))}");
                io.Out.WriteLine($"    model: {VaeCommand.Show(predicted)}");
            }

            const string prompt = "It was a fine morning at Longbourn, and Elizabeth walked out with her sister.";
            io.Out.WriteLine();
            var reading = GenerationOptions.Reading with { Seed = 1 };
            const int budget = 48;
            io.Out.WriteLine($"== Generation from the same prompt ({budget} tokens, temperature {reading.Temperature}, top-p {reading.TopP}, repetition penalty {reading.RepetitionPenalty}, seed 1):");
            io.Out.WriteLine($"   the sentence-level model writes a [piece] per backbone step; the token model (models/lm-256) a token per step");
            io.Out.Write($"  {Sllm}: " + prompt);
            io.Out.Flush();
            var sllmWatch = Stopwatch.StartNew();
            int sllmTokens = 0;
            await foreach (var piece in generator.StreamAsync(prompt, new SentenceGenerationOptions { MaxPieces = int.MaxValue, MaxTokens = budget, Tokens = reading }, cancel))
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
                await foreach (var token in tokenGenerator.StreamAsync(prompt, reading with { MaxNewTokens = budget }, cancel))
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
                new BenchmarkOptions { Runs = 3, PromptTokens = [256], OutputTokens = 24 });
            io.Out.WriteLine($"  {"model",-14} {"bits/byte",9} {"tokens/s",9} {"speed",7} {"KV cache",9}");
            foreach (var m in report.Models)
                io.Out.WriteLine($"  {m.Name,-14} {m.BitsPerByte,9:0.000} {m.OutputTokensPerS["256"],9:0} {(m.Ratios?.Throughput["256"] ?? 1),6:0.00}x {m.KvBytesPerTokenAnalytic / 1024,6:0.0} KB");
            io.Out.WriteLine();
            io.Out.WriteLine("  bits/byte  how well the model predicts this text (lower is better; 8 would be no knowledge at all)");
            io.Out.WriteLine("  tokens/s   text tokens written per second, one request, after a 256-token prompt");
            io.Out.WriteLine("  speed      tokens/s against lm-256, timed in turns in this run");
            io.Out.WriteLine("  KV cache   memory the model keeps per token of context");
            io.Out.WriteLine("  A 6,000-character slice and 3 short runs are noisy: the speed moves by a third from run to run on a");
            io.Out.WriteLine("  shared machine. The README's tables come from the whole texts and interleaved runs.");
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
