using System.CommandLine;
using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae eval vae|lm --model DIR --data FILE [--json]</c>: the same metric keys for every model.</summary>
internal static class EvalCommand
{
    public static Command Create(CliIO io)
    {
        var command = new Command("eval", "Evaluate a model directory on a text file (one document per line).");
        command.Subcommands.Add(Kind(io, "vae", "SentenceVAE: loss, ppl, token accuracy, exact match of reconstruction.", (dir, device, docs, limit) =>
        {
            using var model = SentenceVaeCheckpoint.Load(dir, device);
            var tok = TextTokenizers.Load(dir);
            var splitter = SentenceSplitter.ForModel(model.Config, tok);
            var pieces = docs.SelectMany(splitter.Split).ToList();
            if (limit > 0 && limit < pieces.Count) pieces = pieces.Take(limit).ToList();
            return VaeEvaluator.Evaluate(model, tok, pieces);
        }));
        command.Subcommands.Add(Kind(io, "lm", "Token-level LM: loss, ppl, bits per byte of whole documents.", (dir, device, docs, limit) =>
        {
            using var model = HuggingFaceCheckpoint.LoadOpt(dir, device);
            return LmEvaluator.Evaluate(model, TextTokenizers.Load(dir), docs, limit);
        }));
        command.Subcommands.Add(Kind(io, "sllm", "Sentence-level LLM: loss, ppl, bits per byte of whole documents (causal, every byte scored).", (dir, device, docs, limit) =>
        {
            using var model = SentenceLlmCheckpoint.Load(dir, device);
            return SllmEvaluator.Evaluate(model, TextTokenizers.Load(dir), docs, limit);
        }));
        return command;
    }

    private static Command Kind(CliIO io, string kind, string description, Func<string, TorchSharp.torch.Device, List<string>, int, EvalResult> evaluate)
    {
        var model = new Option<string>("--model") { Description = "model directory", Required = true };
        var data = new Option<string>("--data") { Description = "UTF-8 text, one document per line (e.g. data/austen-valid.txt)", Required = true };
        var limit = new Option<int>("--limit") { Description = "evaluate only the first N pieces (vae) / about N tokens (lm); 0: all" };
        var json = CommonOptions.Json();
        var device = LmCommand.DeviceOption();
        var command = new Command(kind, description) { model, data, limit, json, device };
        command.SetAction(parse =>
        {
            if (parse.GetValue(limit) < 0) throw new CliUsageException($"--limit must be 0 (all) or positive (is {parse.GetValue(limit)})");
            string path = parse.GetValue(data)!;
            var docs = CorpusReader.ReadDocuments(path).ToList();
            if (docs.Count == 0) throw new InvalidDataException($"{path}: no text to evaluate (every line is empty)");
            var result = evaluate(parse.GetValue(model)!, LmCommand.ParseDevice(parse.GetValue(device)!), docs, parse.GetValue(limit));
            if (!double.IsFinite(result.Loss) || result.BitsPerByte is double b && !double.IsFinite(b))
                throw new InvalidDataException($"{parse.GetValue(model)}: the model's loss on {path} is {result.Loss} (non-finite: are its weights damaged?)");
            io.Out.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(result)
                : $"loss {result.Loss:0.0000}  ppl {result.Ppl:0.00}  bits/byte {Show(result.BitsPerByte, "0.0000")}  token accuracy {Show(result.TokenAccuracy, "P2")}  " +
                  $"exact match {Show(result.ExactMatch, "P2")}  ({result.Tokens:N0} tokens, {result.Bytes:N0} bytes)");
            return 0;
        });
        return command;
    }

    private static string Show(double? value, string format) => value is double v ? v.ToString(format) : "n/a";
}
