using System.CommandLine;
using System.Text;
using System.Text.Json;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae tokenize</c>: text → ids (space-separated, or JSON), or with --decode ids → text.</summary>
internal static class TokenizeCommand
{
    public static Command Create(CliIO io)
    {
        var file = CommonOptions.InputFile();
        var tokenizer = CommonOptions.Tokenizer("compact");
        var json = CommonOptions.Json();
        var decode = new Option<bool>("--decode") { Description = "read whitespace-separated ids and print their text" };
        var command = new Command("tokenize", "Encode text to token ids (or decode ids with --decode).") { file, tokenizer, json, decode };
        command.SetAction(parse =>
        {
            string? path = parse.GetValue(file);
            var tok = TextTokenizers.Load(parse.GetValue(tokenizer)!);
            string input = CliInput.ReadAll(path, io);
            if (parse.GetValue(decode))
            {
                var ids = new List<int>();
                foreach (var word in input.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                {
                    if (!int.TryParse(word, out int id) || id < 0 || id >= tok.VocabSize)
                        throw new InvalidDataException($"{CliInput.Name(path)}: '{word}' is not a token id of {tok.Kind} (0..{tok.VocabSize - 1})");
                    ids.Add(id);
                }
                io.Out.Write(tok.Decode(ids));
                return 0;
            }
            var encoded = tok.Encode(input);
            if (parse.GetValue(json))
                io.Out.WriteLine(JsonSerializer.Serialize(new
                {
                    tokenizer = tok.Kind, vocab_size = tok.VocabSize, bos_id = tok.BosId, eos_id = tok.EosId, pad_id = tok.PadId,
                    bytes = Encoding.UTF8.GetByteCount(input), tokens = encoded.Count, ids = encoded,
                }));
            else
                io.Out.WriteLine(string.Join(' ', encoded));
            return 0;
        });
        return command;
    }
}
