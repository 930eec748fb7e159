using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using SentenceVae.Checkpoints;
using SentenceVae.Training;

namespace SentenceVae.Cli.Commands;

/// <summary>
/// <c>svae finetune</c>: a shipped (or any trained) model, either kind, trained on a user's own text for a
/// few minutes — same tokenizer, a tenth of the text held back to choose the best checkpoint on.
/// </summary>
internal static class FinetuneCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Option<string>("--model") { Description = "the model to start from: a token model (e.g. models/lm-256) or a sentence-level one (models/sllm-256-e2e)", Required = true };
        var data = new Option<string>("--data") { Description = "your text: a UTF-8 file (paragraphs separated by blank lines, or one per line)", Required = true };
        var output = new Option<string>("--out") { Description = "run directory (checkpoints, metrics.csv, the best model in best/)", Required = true };
        var minutes = new Option<double>("--minutes") { Description = "training time", DefaultValueFactory = _ => 5 };
        var threads = new Option<int>("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => Math.Max(1, Environment.ProcessorCount) };
        var lr = new Option<double>("--lr") { Description = "peak learning rate (a tenth of the shipped models' is gentle enough not to forget what they knew)", DefaultValueFactory = _ => 3e-4 };
        var seed = new Option<int>("--seed") { Description = "seed of data order and dropout", DefaultValueFactory = _ => 1234 };
        var command = new Command("finetune", "Train a model on your own text for a few minutes (held-back tenth for validation), then generate in its style.")
            { model, data, output, minutes, threads, lr, seed };
        command.SetAction((parse, outerCancel) =>
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(outerCancel);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            string source = parse.GetValue(model)!, text = parse.GetValue(data)!, run = parse.GetValue(output)!;
            if (parse.GetValue(minutes) is not (> 0 and <= 10_000)) throw new CliUsageException($"--minutes {parse.GetValue(minutes)}: must be positive");
            var config = Config(source, text, run, parse.GetValue(minutes), parse.GetValue(threads), parse.GetValue(lr), parse.GetValue(seed));
            io.Error.WriteLine($"svae: fine-tuning {source} ({config.Kind}) on {text} for {parse.GetValue(minutes):0.#} min; validation: the last tenth ({config.ValidData})");
            string best = TrainCommand.Run(io, config, run, resuming: false, TrainCommand.TaskFor, stop.Token);
            io.Out.WriteLine(config.Kind == "lm"
                ? $"try: svae lm generate --model {best} --prompt \"…\""
                : $"try: svae generate --model {best} --prompt \"…\"");
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>
    /// The run's config: the model's own config and tokenizer, <c>init_from</c> the model, its trained context
    /// as the window; the text cut into documents, its last tenth (by bytes) written aside for validation.
    /// </summary>
    internal static TrainConfig Config(string source, string textPath, string run, double minutes, int threads, double lr, int seed)
    {
        string kind = ModelDirectory.Kind(source) switch
        {
            ModelKind.TokenModel => "lm",
            ModelKind.SentenceLlm => "sllm",
            var other => throw new InvalidDataException($"{source}: a {other.ModelType()} model cannot be fine-tuned here (a token model or a sentence-level one can)"),
        };
        if (!File.Exists(textPath)) throw new FileNotFoundException($"{textPath}: no such file", textPath);
        var documents = Documents(File.ReadAllText(textPath, new UTF8Encoding(false, throwOnInvalidBytes: true)));
        long total = documents.Sum(d => (long)Encoding.UTF8.GetByteCount(d)), seen = 0;
        int split = documents.Count;
        while (split > 1 && seen < total / 10) seen += Encoding.UTF8.GetByteCount(documents[--split]);
        if (split < 1 || split == documents.Count) throw new InvalidDataException($"{textPath}: too little text to hold a tenth back (it holds {documents.Count} paragraph(s), {total:N0} bytes)");
        string dataDir = Path.Combine(run, "data");
        Directory.CreateDirectory(dataDir);
        string train = Path.Combine(dataDir, "train.txt"), valid = Path.Combine(dataDir, "valid.txt");
        File.WriteAllLines(train, documents.Take(split));
        File.WriteAllLines(valid, documents.Skip(split));

        var model = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        int context = (model["trained_context"] as JsonValue)?.GetValue<int>() ?? (kind == "lm" ? 256 : 64);
        return new TrainConfig
        {
            Kind = kind, Model = model, Tokenizer = source, TrainData = train, ValidData = valid, InitFrom = source,
            BatchSize = kind == "lm" ? 8 : 4, SeqLen = kind == "lm" ? context : 256, WindowPieces = kind == "lm" ? 64 : context,
            MaxSteps = 100_000, MaxMinutes = minutes, LearningRate = lr, MinLearningRate = lr / 10, WarmupSteps = 20,
            WeightDecay = 0.1, Loss = Modules.LossKind.CrossEntropy, EvalEvery = 25, EvalLimit = 20_000, CheckpointEvery = 25, LogEvery = 5,
            Seed = seed, Threads = threads, ExportDtype = "float16",
        }.Validate();
    }

    /// <summary>Paragraphs (blank-line separated, their lines joined by spaces), or the lines when no blank line separates two.</summary>
    internal static List<string> Documents(string text)
    {
        var normalized = text.ReplaceLineEndings("\n").Trim();
        var blocks = System.Text.RegularExpressions.Regex.IsMatch(normalized, @"\n[ \t]*\n")
            ? System.Text.RegularExpressions.Regex.Split(normalized, @"\n[ \t]*\n").Select(p => string.Join(' ', p.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)))
            : normalized.Split('\n').Select(l => l.Trim());
        return blocks.Where(d => d.Length > 0).ToList();
    }
}
