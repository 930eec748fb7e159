using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae split</c>: text → pieces, one per line (line breaks inside a piece shown as \n), or JSON lines whose texts concatenate to the input.</summary>
internal static class SplitCommand
{
    internal static readonly JsonSerializerOptions JsonLines = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create(CliIO io)
    {
        var file = CommonOptions.InputFile();
        var mode = CommonOptions.Mode();
        var maxTokens = CommonOptions.PieceTokens();
        var tokenizer = CommonOptions.Tokenizer("gpt2");
        var json = CommonOptions.Json();
        var leading = new Option<bool>("--leading-whitespace") { Description = "put the whitespace after a cut at the start of the next piece (pieces tokenize as the whole text does)" };
        var command = new Command("split", "Cut text into pieces (sentences and clauses).") { file, mode, maxTokens, tokenizer, json, leading };
        command.SetAction(parse =>
        {
            string? path = parse.GetValue(file);
            var tok = TextTokenizers.Load(parse.GetValue(tokenizer)!);
            var splitter = new SentenceSplitter(new SplitterOptions
            {
                Mode = parse.GetValue(mode), MaxTokens = parse.GetValue(maxTokens), CountTokens = tok.CountTokens, LeadingWhitespace = parse.GetValue(leading),
            });
            bool asJson = parse.GetValue(json);
            using var reader = CliInput.Open(path, io);
            int index = 0;
            foreach (var piece in splitter.Split(CliInput.Chunks(reader, path)))
            {
                io.Out.WriteLine(asJson
                    ? JsonSerializer.Serialize(new { index, text = piece, tokens = tok.CountTokens(piece) }, JsonLines)
                    : piece.Replace("\r", "\\r").Replace("\n", "\\n"));
                index++;
            }
            return 0;
        });
        return command;
    }
}
