using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using SentenceVae.Checkpoints;
using static SentenceVae.Evaluation.Statistics;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using Spectre.Console;
using static TorchSharp.torch;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae vae</c>: SentenceVAE models — reconstruct, encode, bench.</summary>
internal static class VaeCommand
{
    public static Command Create(CliIO io) => new("vae", "SentenceVAE models: pieces → vectors → pieces.") { Reconstruct(io), Encode(io), Bench(io) };

    /// <summary>A loaded model and its input, streamed: pieces come in batches as the text is read, so memory stays bounded for any input size.</summary>
    private sealed record Loaded(SentenceVaeModel Model, ITextTokenizer Tokenizer, IEnumerable<List<string>> Batches, TextReader? Reader) : IDisposable
    {
        public void Dispose()
        {
            Model.Dispose();
            Reader?.Dispose();
        }
    }

    private const int BatchPieces = 64;

    private sealed record InputOptions(Option<string> Model, Option<string?> Tokenizer, Argument<string?> Input, Option<string?> Text, Option<string> Device);

    private static InputOptions Inputs() => new(
        new Option<string>("--model") { Description = "model directory: config.json + model.safetensors (or one .pth) + tokenizer", Required = true },
        new Option<string?>("--tokenizer") { Description = "tokenizer if the model directory has none: gpt2, compact or a directory" },
        new Argument<string?>("FILE") { Description = "a UTF-8 text file, or '-' / nothing for standard input", Arity = ArgumentArity.ZeroOrOne },
        new Option<string?>("--text") { Description = "the text itself instead of a file" },
        LmCommand.DeviceOption());

    private static Loaded Load(ParseResult parse, InputOptions o, CliIO io)
    {
        string? input = parse.GetValue(o.Input), literal = parse.GetValue(o.Text);
        if (input is not null && literal is not null) throw new CliUsageException("give either FILE or --text, not both");
        // Open the input before loading anything: a missing file is reported at once.
        var reader = literal is null ? CliInput.Open(input, io) : null;
        string dir = parse.GetValue(o.Model)!;
        var model = SentenceVaeCheckpoint.Load(dir, LmCommand.ParseDevice(parse.GetValue(o.Device)!));
        var tok = TextTokenizers.Load(parse.GetValue(o.Tokenizer) ?? dir);
        if (tok.VocabSize > model.Config.VocabSize) throw new CliUsageException($"tokenizer has {tok.VocabSize} ids but the model only {model.Config.VocabSize}");
        var splitter = model.Config.Splitter(tok);
        var pieces = reader is null ? splitter.Split(literal!) : splitter.Split(CliInput.Chunks(reader, input));
        return new Loaded(model, tok, pieces.Chunk(BatchPieces).Select(c => c.ToList()), reader);
    }

    private static Command Reconstruct(CliIO io)
    {
        var o = Inputs();
        var command = new Command("reconstruct", "Encode each piece to one vector and decode it back (greedy); marks pieces that do not come back exactly.") { o.Model, o.Tokenizer, o.Input, o.Text, o.Device };
        command.SetAction(parse =>
        {
            using var run = Load(parse, o, io);
            var codec = new SentenceCodec(run.Model);
            int exact = 0, total = 0;
            foreach (var batch in run.Batches)
            {
                using var scope = NewDisposeScope();
                var ids = batch.Select(p => run.Tokenizer.Encode(p).ToArray()).ToList();
                var decoded = codec.Decode(codec.Encode(ids), new GenerationOptions { MaxNewTokens = run.Model.Config.MaxSeqLen });
                for (int i = 0; i < batch.Count; i++)
                {
                    string back = run.Tokenizer.Decode(decoded[i]);
                    bool same = back == batch[i];
                    exact += same ? 1 : 0;
                    io.Out.WriteLine($"{(same ? "=" : "≠")} {Show(batch[i])}");
                    if (!same) io.Out.WriteLine($"  → {Show(back)}");
                }
                total += batch.Count;
                io.Out.Flush();                                                                  // shown as it goes
            }
            io.Out.WriteLine(total == 0 ? "(no text)" : $"{exact}/{total} pieces reconstructed exactly");
            return 0;
        });
        return command;
    }

    private static Command Encode(CliIO io)
    {
        var o = Inputs();
        var command = new Command("encode", "Print each piece's sentence vector as JSON (one object per line: index, text, vector).") { o.Model, o.Tokenizer, o.Input, o.Text, o.Device };
        command.SetAction(parse =>
        {
            using var run = Load(parse, o, io);
            var codec = new SentenceCodec(run.Model);
            int index = 0;
            foreach (var batch in run.Batches)
            {
                using var scope = NewDisposeScope();
                var vectors = codec.Encode(batch.Select(p => run.Tokenizer.Encode(p).ToArray()).ToList()).squeeze(1).cpu();   // (N, C)
                for (int i = 0; i < batch.Count; i++)
                    io.Out.WriteLine(JsonSerializer.Serialize(new { index = index++, text = batch[i], vector = vectors[i].data<float>().ToArray() }, SplitCommand.JsonLines));
                io.Out.Flush();
            }
            return 0;
        });
        return command;
    }

    private static Command Bench(CliIO io)
    {
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 256, Description = "hidden size" };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 1, Description = "encoder/decoder layers" };
        var vocabs = new Option<int[]>("--vocab") { DefaultValueFactory = _ => new[] { 8192, 50272 }, AllowMultipleArgumentsPerToken = true, Description = "vocabulary sizes" };
        var batches = new Option<int[]>("--batch") { DefaultValueFactory = _ => new[] { 1, 32 }, AllowMultipleArgumentsPerToken = true, Description = "batch sizes" };
        var tokens = new Option<int>("--tokens") { DefaultValueFactory = _ => 32, Description = "tokens decoded per row" };
        var runs = new Option<int>("--runs") { DefaultValueFactory = _ => 5, Description = "timed runs (median reported) after one warm-up" };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2, Description = "libtorch intra-op threads" };
        var json = CommonOptions.Json();
        var command = new Command("bench", "Decode ms/token, KV-cached vs uncached (the reference's way), random weights.") { hidden, layers, vocabs, batches, tokens, runs, threads, json };
        command.SetAction(parse =>
        {
            set_num_threads(parse.GetValue(threads));
            int steps = parse.GetValue(tokens), runCount = parse.GetValue(runs);
            var rows = new List<Dictionary<string, object>>();
            foreach (int vocab in parse.GetValue(vocabs)!)
            {
                manual_seed(0);
                using var model = new SentenceVaeModel(new SentenceVaeConfig
                {
                    HiddenSize = parse.GetValue(hidden), NumHiddenLayers = parse.GetValue(layers), NumAttentionHeads = 4, VocabSize = vocab,
                    MaxSeqLen = steps + 1, Dropout = 0,
                });
                model.eval();
                var codec = new SentenceCodec(model);
                foreach (int batch in parse.GetValue(batches)!)
                {
                    using var scope = NewDisposeScope();
                    var vectors = randn(batch, 1, model.Config.HiddenSize);
                    // The first run is the warm-up (first calls): timed apart, reported, never in the median.
                    (double Median, double WarmUp) Time(Action decode)
                    {
                        var ms = Enumerable.Range(0, runCount + 1).Select(_ =>
                        {
                            var sw = Stopwatch.StartNew();
                            decode();
                            return sw.Elapsed.TotalMilliseconds;
                        }).ToList();
                        return (Median(ms.Skip(1).Select(m => m / steps)), ms[0]);
                    }
                    var (cached, cachedWarmUp) = Time(() => codec.Decode(vectors, new GenerationOptions { MaxNewTokens = steps, StopAtEos = false }));
                    var (uncached, uncachedWarmUp) = Time(() => codec.DecodeUncached(vectors, steps, stopAtEos: false));
                    rows.Add(new()
                    {
                        ["vocab"] = vocab, ["batch"] = batch, ["tokens_per_row"] = steps,
                        ["cached_ms_per_step"] = cached, ["uncached_ms_per_step"] = uncached,
                        ["cached_ms_per_token"] = cached / batch, ["uncached_ms_per_token"] = uncached / batch, ["speedup"] = uncached / cached,
                        ["warm_up_ms"] = cachedWarmUp + uncachedWarmUp,
                    });
                }
            }
            if (parse.GetValue(json))
            {
                io.Out.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var table = new Table().AddColumns("vocab", "batch", "cached ms/step", "uncached ms/step", "cached ms/token", "uncached ms/token", "speedup");
            foreach (var r in rows)
                table.AddRow($"{r["vocab"]}", $"{r["batch"]}", $"{r["cached_ms_per_step"]:0.00}", $"{r["uncached_ms_per_step"]:0.00}",
                    $"{r["cached_ms_per_token"]:0.000}", $"{r["uncached_ms_per_token"]:0.000}", $"{r["speedup"]:0.0}x");
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(io.Out) });
            console.Profile.Width = Math.Max(console.Profile.Width, 140);
            console.Write(table);
            io.Out.WriteLine($"hidden {parse.GetValue(hidden)}, {parse.GetValue(layers)} layer(s), {steps} tokens per row, median of {runCount} runs, {get_num_threads()} threads");
            return 0;
        });
        return command;
    }

    /// <summary>A piece on one line: line breaks shown as \r and \n.</summary>
    internal static string Show(string piece) => piece.Replace("\r", "\\r").Replace("\n", "\\n");

}
