using System.CommandLine;
using System.Text;
using System.Text.Json;
using SentenceVae.Text;
using Spectre.Console;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae stats</c>: pieces and tokens of a text for each tokenizer and segmentation mode.</summary>
internal static class StatsCommand
{
    public sealed record Row(string Tokenizer, string Mode, int Pieces, int Tokens, long Bytes, long BytesDropped,
        double TokensPerPieceMedian, double TokensPerPieceP95, int TokensPerPieceMax, double TokensPerByte);

    public static Command Create(CliIO io)
    {
        var file = CommonOptions.InputFile();
        var tokenizers = new Option<string[]>("--tokenizer")
        {
            Description = "tokenizers to compare (repeatable): gpt2, compact, or a directory",
            DefaultValueFactory = _ => new[] { "gpt2", "compact" },
            AllowMultipleArgumentsPerToken = true,
        };
        var maxTokens = CommonOptions.PieceTokens();
        var json = CommonOptions.Json();
        var command = new Command("stats", "Tokens per piece and per byte, for each tokenizer in both segmentation modes.") { file, tokenizers, maxTokens, json };
        command.SetAction(parse =>
        {
            string text = CliInput.ReadAll(parse.GetValue(file), io);
            var rows = new List<Row>();
            foreach (var spec in parse.GetValue(tokenizers)!)
            {
                var tok = TextTokenizers.Load(spec);
                foreach (var mode in Enum.GetValues<SegmentationMode>())
                    rows.Add(Measure(text, tok, mode, parse.GetValue(maxTokens)));
            }
            if (parse.GetValue(json))
            {
                io.Out.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true }));
                return 0;
            }
            var table = new Table().AddColumns("tokenizer", "mode", "pieces", "tokens", "tok/piece median", "p95", "max", "tokens/byte", "bytes dropped");
            foreach (var r in rows)
                table.AddRow(r.Tokenizer, r.Mode, $"{r.Pieces:N0}", $"{r.Tokens:N0}", $"{r.TokensPerPieceMedian:0.#}", $"{r.TokensPerPieceP95:0.#}",
                    $"{r.TokensPerPieceMax}", $"{r.TokensPerByte:0.0000}", $"{r.BytesDropped:N0}");
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(io.Out) });
            console.Profile.Width = Math.Max(console.Profile.Width, 140);
            console.Write(table);
            return 0;
        });
        return command;
    }

    public static Row Measure(string text, ITextTokenizer tok, SegmentationMode mode, int maxTokens)
    {
        var splitter = new SentenceSplitter(new SplitterOptions { Mode = mode, MaxTokens = maxTokens, CountTokens = tok.CountTokens });
        var counts = new List<int>();
        long bytes = 0;
        foreach (var piece in splitter.Split(text))
        {
            counts.Add(tok.CountTokens(piece));
            bytes += Encoding.UTF8.GetByteCount(piece);
        }
        counts.Sort();
        int tokens = counts.Sum();
        double Quantile(double q) => counts.Count == 0 ? 0 : counts[(int)Math.Min(counts.Count - 1, Math.Floor(q * counts.Count))];
        return new Row(tok.Kind, mode.ToString().ToLowerInvariant(), counts.Count, tokens, bytes, Encoding.UTF8.GetByteCount(text) - bytes,
            Quantile(0.5), Quantile(0.95), counts.Count == 0 ? 0 : counts[^1], bytes == 0 ? 0 : (double)tokens / bytes);
    }
}
