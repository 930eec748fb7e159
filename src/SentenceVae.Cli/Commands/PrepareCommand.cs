using System.CommandLine;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Modules;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae prepare</c>: a corpus as token shards any trainer can stream (the PyTorch twin under torchrun, say).</summary>
internal static class PrepareCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Option<string>("--model") { Description = "model directory whose tokenizer (and, for a sentence-level model, piece budget) the text is prepared with", Required = true };
        var data = new Option<string>("--data") { Description = "UTF-8 text, one document per line", Required = true };
        var output = new Option<string>("--out") { Description = "directory for the header ({split}.json) and the shards", Required = true };
        var split = new Option<string>("--split") { Description = "the split's name, the files' prefix (train, valid, ...)", DefaultValueFactory = _ => "train" };
        var pieceTokens = new Option<int>("--piece-tokens") { Description = "most tokens a piece holds; 0: the sentence-level model's own (max_seq_len − 1), else 63" };
        var shardTokens = new Option<long>("--shard-tokens") { Description = "start a new shard (at a document's end) once one holds this many tokens", DefaultValueFactory = _ => 100_000_000 };
        var command = new Command("prepare", "Write a corpus as token shards (the segmentation and tokenizer of svae train; little-endian arrays and a JSON header) for any trainer to stream.")
            { model, data, output, split, pieceTokens, shardTokens };
        command.SetAction(parse =>
        {
            string directory = parse.GetValue(model)!, text = parse.GetValue(data)!;
            var kind = ModelDirectory.Kind(directory, "prepared for", ModelKind.SentenceLlm, ModelKind.TokenModel, ModelKind.SentenceVae);
            var tokenizer = TextTokenizers.Load(directory);
            int budget = parse.GetValue(pieceTokens);
            if (budget < 0) throw new CliUsageException($"--piece-tokens {budget}: must be at least 8, or 0 for the model's own");
            if (parse.GetValue(shardTokens) < 1) throw new CliUsageException($"--shard-tokens {parse.GetValue(shardTokens)}: must be at least 1");
            SentenceSplitter splitter;
            if (budget == 0 && kind != ModelKind.TokenModel)
            {
                var svae = kind == ModelKind.SentenceLlm ? SentenceLlmConfig.Load(Path.Combine(directory, "config.json")).Svae : SentenceVaeConfig.Load(Path.Combine(directory, "config.json"));
                splitter = svae.Splitter(tokenizer);
                budget = svae.MaxSeqLen - 1;
            }
            else
            {
                if (budget == 0) budget = 63;
                if (budget < 8) throw new CliUsageException($"--piece-tokens {budget}: must be at least 8");
                splitter = new SentenceSplitter(new SplitterOptions { MaxTokens = budget, CountTokens = tokenizer.CountTokens });
            }
            if (!File.Exists(text)) throw new FileNotFoundException($"{text}: no such file", text);
            long total = new FileInfo(text).Length;
            TokenShardsHeader header;
            using (var progress = new ProgressLine(io.Error, "prepare", total, "bytes", quiet: false))
                header = TokenShards.Write(text, parse.GetValue(output)!, parse.GetValue(split)!, tokenizer, splitter, budget, parse.GetValue(shardTokens), bytes => progress.Report(bytes));
            io.Out.WriteLine($"wrote {TokenShards.HeaderPath(parse.GetValue(output)!, header.Split)}: {header.Documents:N0} documents, {header.Pieces:N0} pieces, {header.Tokens:N0} tokens " +
                $"({header.TokenType}, {header.Shards.Count} shard{(header.Shards.Count == 1 ? "" : "s")}), tokenizer {header.Tokenizer} of {header.VocabSize:N0} ids, pieces of at most {budget} tokens");
            return 0;
        });
        return command;
    }
}
