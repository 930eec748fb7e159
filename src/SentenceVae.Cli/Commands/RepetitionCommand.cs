using System.CommandLine;
using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary>
/// <c>svae repetition</c>: how much each model's continuations of held-out prompts repeat themselves,
/// greedy against the sampling flags (by default the reading defaults).
/// </summary>
internal static class RepetitionCommand
{
    public static Command Create(CliIO io)
    {
        var models = new Option<string[]>("--model") { Description = "model directories (sentence-level or token models)", Required = true, AllowMultipleArgumentsPerToken = true };
        var data = new Option<string>("--data") { Description = "held-out text the prompts are cut from", DefaultValueFactory = _ => "data/mobydick-ch01-18.txt" };
        var prompts = new Option<int>("--prompts") { Description = "prompts (about 300 characters each, spread over the text)", DefaultValueFactory = _ => 20 };
        var json = new Option<string?>("--json") { Description = "write the rows as JSON here" };
        var sampling = new SamplingFlags();
        var command = new Command("repetition", "Repeated 4-grams, repeated pieces and distinct-2 of continuations: greedy vs the sampling flags (default: the reading defaults).")
            { models, data, prompts, json };
        sampling.AddTo(command, pieces: true);
        command.SetAction(parse =>
        {
            int count = parse.GetValue(prompts);
            if (count < 1) throw new CliUsageException($"--prompts {count}: must be at least 1");
            var texts = PromptSlices.Spread(CliInput.ReadAll(parse.GetValue(data), io), count);
            int maxTokens = parse.GetValue(sampling.MaxTokens);
            var chosen = sampling.Read(parse, maxTokens);
            var rows = new List<object>();
            io.Out.WriteLine($"| model | decoding | repeated 4-grams | repeated pieces | distinct-2 | words |");
            io.Out.WriteLine("|---|---|---|---|---|---|");
            using var progress = new ProgressLine(io.Error, "repetition", parse.GetValue(models)!.Length * 2, "runs (model × decoding)", quiet: false);
            int done = 0;
            progress.Report(0);
            foreach (var dir in parse.GetValue(models)!)
            {
                string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
                var tokenizer = TextTokenizers.Load(dir);
                bool pieces = ModelDirectory.Kind(dir, "continued", ModelKind.SentenceLlm, ModelKind.TokenModel) == ModelKind.SentenceLlm;
                foreach (var (label, options) in new[] { ("greedy", new GenerationOptions()), ("flags", pieces ? chosen : chosen with { NoRepeatPieces = 0 }) })
                {
                    // Each prompt its own seed, so the sampled texts are the same every run.
                    var written = Continue(dir, pieces, tokenizer, texts, maxTokens, (i, perStep) => options with { MaxNewTokens = perStep, Seed = options.Seed ?? 1000 + i });
                    var stats = RepetitionStats.Of(written, new SentenceSplitter(new SplitterOptions()));
                    rows.Add(new { model = name, decoding = label, options = Describe(options), stats });
                    io.Out.WriteLine($"| {name} | {Describe(options)} | {stats.Repeated4Grams:P1} | {stats.RepeatedPieces:P1} | {stats.Distinct2:F3} | {stats.Words} |");
                    io.Out.Flush();
                    progress.Report(++done);
                }
            }
            if (parse.GetValue(json) is { } path) File.WriteAllText(path, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }) + "\n");
            return 0;
        });
        return command;
    }

    private static string Describe(GenerationOptions o) => o.Greedy && !o.Penalizes && o.NoRepeatPieces == 0
        ? "greedy"
        : $"temperature {o.Temperature}, top-p {o.TopP}, repetition penalty {o.RepetitionPenalty}" + (o.NoRepeatPieces > 0 ? $", no repeat of the last {o.NoRepeatPieces} pieces" : "")
          + (o.NoRepeatNgramSize > 0 ? $", no repeated {o.NoRepeatNgramSize}-grams" : "") + (o.FrequencyPenalty != 0 ? $", frequency {o.FrequencyPenalty}" : "") + (o.PresencePenalty != 0 ? $", presence {o.PresencePenalty}" : "");

    // The continuation of every prompt (all in one engine), as text.
    private static List<string> Continue(string dir, bool pieces, ITextTokenizer tokenizer, List<string> prompts, int maxTokens, Func<int, int, GenerationOptions> options)
    {
        if (pieces)
        {
            using var model = SentenceLlmCheckpoint.Load(dir);
            var generator = new SentenceLlmGenerator(model, tokenizer);
            var rows = prompts.Select((p, i) => SentenceLlmGenerator.Row(generator.PromptPieces(p), new SentenceGenerationOptions
            {
                MaxPieces = int.MaxValue, MaxTokens = maxTokens, Tokens = options(i, model.Config.Svae.MaxSeqLen - 1),
            })).ToList();
            return EngineRuns.Written(generator.Run(rows), rows).Select(pieces => string.Concat(pieces.Select(tokenizer.Decode))).ToList();   // pieces decoded one by one, as served
        }
        using var lm = HuggingFaceCheckpoint.LoadOpt(dir);
        var tokens = new TokenGenerator(lm, tokenizer);
        var tokenRows = prompts.Select((p, i) => TokenGenerator.Row(tokens.PromptIds(p), options(i, maxTokens))).ToList();
        return EngineRuns.Written(tokens.Run(tokenRows), tokenRows).Select(ids => tokenizer.Decode(ids.SelectMany(i => i).ToArray())).ToList();   // all at once: a character may span tokens
    }
}
