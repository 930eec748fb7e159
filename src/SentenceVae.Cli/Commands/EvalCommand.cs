using System.CommandLine;
using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae eval vae|lm|sllm --model DIR --data FILE [--context N] [--json]</c>: the same metric keys for every model; token and sentence-level models are scored with windows of the context they were trained on unless <c>--context</c> says otherwise.</summary>
internal static class EvalCommand
{
    public static Command Create(CliIO io)
    {
        var command = new Command("eval", "Evaluate a model directory on a text file (one document per line).");
        command.Subcommands.Add(Kind(io, "vae", "SentenceVAE: loss, ppl, token accuracy, exact match of reconstruction.", (dir, device, docs, limit, _, weights) =>
        {
            using var model = SentenceVaeCheckpoint.Load(dir, device);
            Round(model, weights);
            var tok = TextTokenizers.Load(dir);
            var splitter = model.Config.Splitter(tok);
            var pieces = docs.SelectMany(splitter.Split).ToList();
            if (limit > 0 && limit < pieces.Count) pieces = pieces.Take(limit).ToList();
            return VaeEvaluator.Evaluate(model, tok, pieces);
        }));
        command.Subcommands.Add(Kind(io, "lm", "Token-level LM: loss, ppl, bits per byte of whole documents (windows of the trained context, stride half a window).", (dir, device, docs, limit, context, weights) =>
        {
            using var model = HuggingFaceCheckpoint.LoadOpt(dir, device);
            Round(model, weights);
            if (context > model.Config.MaxPositionEmbeddings) throw new CliUsageException($"--context {context} exceeds the model's max_position_embeddings {model.Config.MaxPositionEmbeddings}");
            return LmEvaluator.Evaluate(model, TextTokenizers.Load(dir), docs, limit, context);
        }));
        command.Subcommands.Add(Kind(io, "sllm", "Sentence-level LLM: loss, ppl, bits per byte of whole documents (causal, every byte scored; windows of the trained context in pieces, stride half a window).", (dir, device, docs, limit, context, weights) =>
        {
            using var model = SentenceLlmCheckpoint.Load(dir, device);
            Round(model, weights);
            if (context > model.Config.MaxPositions - 1) throw new CliUsageException($"--context {context} exceeds the pieces the backbone's positions hold after the start vector ({model.Config.MaxPositions - 1})");
            return SllmEvaluator.Evaluate(model, TextTokenizers.Load(dir), docs, limit, context);
        }));
        return command;
    }

    private static Command Kind(CliIO io, string kind, string description, Func<string, TorchSharp.torch.Device, IEnumerable<string>, int, int, string, EvalResult> evaluate)
    {
        var model = new Option<string>("--model") { Description = "model directory", Required = true };
        var data = new Option<string>("--data") { Description = "UTF-8 text, one document per line (e.g. data/austen-valid.txt)", Required = true };
        var limit = new Option<int>("--limit") { Description = "evaluate only the first N pieces (vae) / about N tokens (lm); 0: all" };
        var context = new Option<int>("--context") { Description = "scoring window: tokens (lm) or pieces (sllm); 0: the context the model was trained on (its trained_context, else every position)" };
        var json = CommonOptions.Json();
        var device = LmCommand.DeviceOption();
        var weights = new Option<string>("--weights") { Description = "fp32 (as trained), or bf16 / int8: every weight matrix rounded to that format first (what the decode kernels' smaller weights cost)", DefaultValueFactory = _ => "fp32" };
        weights.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string>() is { } value && (value == "libtorch" || !Modules.Kernels.WeightFormats.Names.Contains(value)))
                result.AddError($"unknown weight format '{value}' (use {string.Join(", ", Modules.Kernels.WeightFormats.Names[1..^1])} or {Modules.Kernels.WeightFormats.Names[^1]})");
        });
        var command = new Command(kind, description) { model, data, limit, json, device, weights };
        if (kind != "vae") command.Options.Add(context);
        command.SetAction(parse =>
        {
            if (parse.GetValue(limit) < 0) throw new CliUsageException($"--limit must be 0 (all) or positive (is {parse.GetValue(limit)})");
            if (parse.GetValue(context) < 0 || parse.GetValue(context) == 1 && kind == "lm") throw new CliUsageException($"--context must be 0 (the trained context) or at least {(kind == "lm" ? 2 : 1)} (is {parse.GetValue(context)})");
            string path = parse.GetValue(data)!;
            var docs = CorpusReader.ReadDocuments(path).ToList();
            if (docs.Count == 0) throw new InvalidDataException($"{path}: no text to evaluate (every line is empty)");
            // Progress by bytes of text taken (quiet with --json); a --limit ends before the whole file.
            using var progress = new ProgressLine(io.Error, $"evaluating {Path.GetFileName(path)}", docs.Sum(d => (double)System.Text.Encoding.UTF8.GetByteCount(d)), "bytes", quiet: parse.GetValue(json));
            var result = evaluate(parse.GetValue(model)!, LmCommand.ParseDevice(parse.GetValue(device)!), progress.Track(docs, d => System.Text.Encoding.UTF8.GetByteCount(d)), parse.GetValue(limit), parse.GetValue(context), parse.GetValue(weights)!);
            if (!double.IsFinite(result.Loss) || result.BitsPerByte is double b && !double.IsFinite(b))
                throw new InvalidDataException($"{parse.GetValue(model)}: the model's loss on {path} is {result.Loss} (non-finite: are its weights damaged?)");
            io.Out.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(result)
                : $"loss {result.Loss:0.0000}  ppl {result.Ppl:0.00}  bits/byte {Show(result.BitsPerByte, "0.0000")}  token accuracy {Show(result.TokenAccuracy, "P2")}  " +
                  $"exact match {Show(result.ExactMatch, "P2")}  ({result.Tokens:N0} tokens, {result.Bytes:N0} bytes, windows of {Show(result.Context, "N0")})");
            return 0;
        });
        return command;
    }

    private static void Round(TorchSharp.torch.nn.Module model, string weights)
    {
        if (Modules.Kernels.WeightFormats.Parse(weights) is { } format and not Modules.Kernels.WeightFormat.Float32) Modules.Kernels.WeightFormats.Round(model, format);
    }

    private static string Show(int? value, string format) => value is int v ? v.ToString(format) : "n/a";

    private static string Show(double? value, string format) => value is double v ? v.ToString(format) : "n/a";
}
