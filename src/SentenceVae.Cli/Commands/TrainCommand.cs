using System.CommandLine;
using System.Runtime.InteropServices;
using SentenceVae.Training;
using Spectre.Console;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae train vae|lm --config FILE --out RUN_DIR [--resume]</c>.</summary>
internal static class TrainCommand
{
    public static Command Create(CliIO io)
    {
        var command = new Command("train", "Train a model from a config; checkpoints let --resume continue exactly.");
        foreach (var (kind, description, factory) in new (string, string, Func<TrainConfig, ITrainingTask>)[]
                 {
                     ("vae", "Train a SentenceVAE (piece reconstruction).", c => new VaeTrainingTask(c)),
                     ("lm", "Train a token-level OPT language model (the baseline).", c => new LmTrainingTask(c)),
                     ("sllm", "Train a sentence-level LLM (backbone over sentence vectors + stop head + Sentence Decoder).", c => new SllmTrainingTask(c)),
                 })
            command.Subcommands.Add(Kind(io, kind, description, factory));
        return command;
    }

    /// <summary>The training task of a config's kind.</summary>
    internal static ITrainingTask TaskFor(TrainConfig c) => c.Kind switch
    {
        "vae" => new VaeTrainingTask(c),
        "lm" => new LmTrainingTask(c),
        _ => new SllmTrainingTask(c),
    };

    private static Command Kind(CliIO io, string kind, string description, Func<TrainConfig, ITrainingTask> factory)
    {
        var config = new Option<string?>("--config") { Description = "training config JSON (see configs/); optional with --resume" };
        var output = new Option<string>("--out") { Description = "run directory (checkpoints, metrics.csv, best/)", Required = true };
        var resume = new Option<bool>("--resume") { Description = "continue the run in --out from its latest checkpoint" };
        var threads = new Option<int?>("--threads") { Description = "override the config's libtorch threads" };
        var maxSteps = new Option<int?>("--max-steps") { Description = "override max_steps (e.g. to extend a run with --resume; the cosine schedule stretches accordingly)" };
        var maxMinutes = new Option<double?>("--max-minutes") { Description = "override max_minutes (training time over all sessions of the run)" };
        var logEvery = new Option<int?>("--log-every") { Description = "override log_every (steps between progress lines and metrics rows)" };
        var evalEvery = new Option<int?>("--eval-every") { Description = "override eval_every (steps between validations)" };
        var checkpointEvery = new Option<int?>("--checkpoint-every") { Description = "override checkpoint_every (steps between checkpoints)" };
        var command = new Command(kind, description) { config, output, resume, threads, maxSteps, maxMinutes, logEvery, evalEvery, checkpointEvery };
        command.SetAction((parse, outerCancel) =>
        {
            // Ctrl+C / SIGTERM: finish the current step, write a checkpoint, exit (a second signal is not needed).
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(outerCancel);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            var cancel = stop.Token;
            string? configPath = parse.GetValue(config);
            bool resuming = parse.GetValue(resume);
            if (configPath is null && !resuming) throw new CliUsageException("--config is required for a new run");
            var cfg = configPath is null ? null : TrainConfig.Load(configPath);
            if (cfg is not null && cfg.Kind != kind) throw new CliUsageException($"{configPath} is a '{cfg.Kind}' config, not '{kind}'");
            bool overrides = parse.GetValue(threads) is not null || parse.GetValue(maxSteps) is not null || parse.GetValue(maxMinutes) is not null
                || parse.GetValue(logEvery) is not null || parse.GetValue(evalEvery) is not null || parse.GetValue(checkpointEvery) is not null;
            if (cfg is null && resuming && overrides)
                cfg = TrainConfig.Load(Path.Combine(parse.GetValue(output)!, RunDirectory.ConfigFile));
            if (cfg is not null)
                cfg = cfg with
                {
                    Threads = parse.GetValue(threads) ?? cfg.Threads,
                    MaxSteps = parse.GetValue(maxSteps) ?? cfg.MaxSteps,
                    MaxMinutes = parse.GetValue(maxMinutes) ?? cfg.MaxMinutes,
                    LogEvery = parse.GetValue(logEvery) ?? cfg.LogEvery,
                    EvalEvery = parse.GetValue(evalEvery) ?? cfg.EvalEvery,
                    CheckpointEvery = parse.GetValue(checkpointEvery) ?? cfg.CheckpointEvery,
                };
            Run(io, cfg, parse.GetValue(output)!, resuming, factory, cancel);
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>
    /// Trains (or resumes) a run with its progress shown — a bar with the time left on a terminal, a line
    /// per report otherwise — and says where the best model is. Returns that directory.
    /// </summary>
    internal static string Run(CliIO io, TrainConfig? cfg, string output, bool resuming, Func<TrainConfig, ITrainingTask> factory, CancellationToken cancel)
    {
        bool terminal = io.Out is StreamWriter { BaseStream: var s } && s is not MemoryStream && !Console.IsOutputRedirected;
        string best = "";
        if (!terminal)
        {
            using var trainer = new Trainer(cfg, output, resuming, factory, p => { io.Out.WriteLine($"[{DateTime.Now:HH:mm:ss}] {Describe(p)}"); io.Out.Flush(); });
            trainer.Train(cancel);
            io.Out.WriteLine($"best model (chosen on {trainer.Config.ValidData}): {best = trainer.Run.Best}");
            return best;
        }
        io.Out.Flush();
        // The bar counts whichever budget ends the run first (steps or minutes); its line is short enough for 100 columns.
        AnsiConsole.Progress()
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(ctx =>
            {
                var bar = ctx.AddTask("reading the data and building the model…", maxValue: 1);
                void Show(TrainProgress p)
                {
                    bar.Value = p.Done;
                    if (p.Message is not null || p.Validation is not null) AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss}[/] {Describe(p)}");
                    else bar.Description = Markup.Escape(Brief(p));
                }
                using var trainer = new Trainer(cfg, output, resuming, factory, Show);
                trainer.Train(cancel);
                AnsiConsole.MarkupLineInterpolated($"best model (chosen on {trainer.Config.ValidData}): {best = trainer.Run.Best}");
            });
        return best;
    }

    /// <summary>The progress bar's line: step, loss, speed, time left.</summary>
    private static string Brief(TrainProgress p) =>
        $"step {p.Step:N0}  loss {p.Loss:0.000}  {p.TokensPerSecond:N0} tok/s  " + (p.Eta is { } eta ? eta.ToString(@"hh\:mm\:ss") + " left" : "");

    /// <summary>One line per report: the step line carries loss, rate, tokens seen and ETA.</summary>
    private static string Describe(TrainProgress p) =>
        p.Message is not null ? p.Message
        : p.Validation is { } v ? $"step {p.Step,7}  validation: loss {v.Loss:0.0000}  ppl {v.Ppl:0.00}" +
            (v.BitsPerByte is double bpb ? $"  bits/byte {bpb:0.0000}" : "") +
            (v.TokenAccuracy is double acc ? $"  token acc {acc:P2}" : "") + (v.ExactMatch is double em ? $"  exact {em:P2}" : "")
        : $"step {p.Step,7} ({p.Done,4:P0})  epoch {p.Epoch}  loss {p.Loss:0.0000}  lr {p.LearningRate:0.00e0}  {p.TokensPerSecond:N0} tok/s  " +
          $"seen {p.TokensSeen:N0}  elapsed {p.Elapsed:hh\\:mm\\:ss}  eta {(p.Eta is { } eta ? eta.ToString(@"hh\:mm\:ss") : "?")}";
}
