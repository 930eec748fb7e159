using System.Diagnostics;
using System.Text.Json;
using SentenceVae.Evaluation;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Training;

/// <summary>
/// The training loop shared by every kind of model: AdamW (2-D weights decay; biases, norms and
/// other vectors don't), linear warmup + cosine decay, gradient-norm clipping, optional EMA, one
/// dispose scope per step, periodic validation (the best checkpoint is chosen on it), atomic
/// checkpoints, and exact resumption (weights, optimizer, schedule position, RNG, data position).
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly TrainConfig config;
    private readonly RunDirectory run;
    private readonly RunLock runLock;
    private readonly ITrainingTask task;
    private readonly AdamW optimizer;
    private readonly List<(string Name, Parameter Param)> parameters;
    private readonly Dictionary<string, Tensor>? ema;
    private readonly Action<TrainProgress> report;
    private TrainState state;

    /// <summary>Starts a new run in <paramref name="runDir"/> (which must not hold checkpoints), or continues the one there.</summary>
    public Trainer(TrainConfig? config, string runDir, bool resume, Func<TrainConfig, ITrainingTask> createTask, Action<TrainProgress>? report = null)
    {
        if (resume && !File.Exists(Path.Combine(runDir, RunDirectory.ConfigFile)))
            throw new FileNotFoundException($"{runDir}: nothing to resume ({RunDirectory.ConfigFile} missing)", Path.Combine(runDir, RunDirectory.ConfigFile));
        runLock = RunLock.Acquire(runDir);           // one trainer per run directory, before anything in it is read or written
        try { (run, this.config) = Open(config, runDir, resume); }
        catch { runLock.Dispose(); throw; }
        this.report = report ?? (_ => { });
        try
        {
            set_num_threads(this.config.Threads);
            manual_seed(this.config.Seed);
            task = createTask(this.config);
            task.Model.train();

            // Tied weights appear under two names but are one tensor: optimise it once.
            parameters = task.Model.named_parameters().Where(p => p.parameter.requires_grad)
                .DistinctBy(p => Checkpoints.StateDicts.StorageKey(p.parameter)).Select(p => (p.name, p.parameter)).ToList();
            var decay = parameters.Where(p => p.Param.dim() >= 2).Select(p => p.Param).ToList();
            var noDecay = parameters.Where(p => p.Param.dim() < 2).Select(p => p.Param).ToList();
            optimizer = optim.AdamW(new[]
            {
                new AdamW.ParamGroup(decay, new AdamW.Options { LearningRate = this.config.LearningRate, beta1 = this.config.Beta1, beta2 = this.config.Beta2, weight_decay = this.config.WeightDecay }),
                new AdamW.ParamGroup(noDecay, new AdamW.Options { LearningRate = this.config.LearningRate, beta1 = this.config.Beta1, beta2 = this.config.Beta2, weight_decay = 0.0 }),
            }, this.config.LearningRate);

            if (this.config.EmaDecay is not null)
                ema = parameters.ToDictionary(p => p.Name, p => p.Param.detach().clone().DetachFromDisposeScope());

            state = new TrainState(0, 0, 0, 0, 0, null, "");
            if (resume && (run.LatestCheckpoint is not null || run.PointerProblem is not null))
            {
                state = run.Load(task.Model, optimizer, ema, warning => this.report(Progress(null, 0, null, warning)));
                using var rng = tensor(Convert.FromBase64String(state.RngState));
                random.set_rng_state(rng);
                run.TruncateMetricsAfter(state.Step);
                this.report(Progress(null, 0, null, $"resumed at step {state.Step} (epoch {state.Epoch}, batch {state.Index})"));
            }
        }
        catch
        {
            runLock.Dispose();                        // a run that could not start leaves the directory free
            throw;
        }
    }

    private static (RunDirectory, TrainConfig) Open(TrainConfig? config, string runDir, bool resume)
    {
        var run = new RunDirectory(runDir);
        string savedConfig = Path.Combine(runDir, RunDirectory.ConfigFile);
        if (resume)
        {
            if (!File.Exists(savedConfig)) throw new FileNotFoundException($"{runDir}: nothing to resume ({RunDirectory.ConfigFile} missing)", savedConfig);
            var saved = TrainConfig.Load(savedConfig);
            // Only the budget (max_steps, max_minutes) and the thread count may change when a run is
            // continued: neither through --config nor by editing the run's train_config.json.
            if (run.ConfigSnapshot() is { } snapshot && ChangedKeys(snapshot, saved) is { Count: > 0 } edited)
                throw new InvalidDataException($"{savedConfig} was edited since the last checkpoint ({string.Join(", ", edited)}); only max_steps, max_minutes, threads and the log/eval/checkpoint intervals may change on resume (use the CLI options)");
            if (config is not null && ChangedKeys(saved, config) is { Count: > 0 } changed)
                throw new InvalidDataException($"{runDir} was started with a different config ({string.Join(", ", changed)}); resume without --config, or start a new run");
            if (config is not null) config.Save(savedConfig);
            return (run, config ?? saved);
        }
        config = (config ?? throw new ArgumentNullException(nameof(config))).Validate();
        if (run.LatestCheckpoint is not null) throw new InvalidDataException($"{runDir} already holds a run; use --resume to continue it, or choose another --out");
        if (File.Exists(run.Metrics)) File.Delete(run.Metrics);
        config.Save(savedConfig);
        return (run, config);
    }

    /// <summary>The run's config (as saved in the run directory).</summary>
    public TrainConfig Config => config;
    /// <summary>Where the run is: step, epoch, tokens seen, time, best validation loss.</summary>
    public TrainState State => state;
    internal RunDirectory Run => run;
    /// <summary>The model, data and loss being trained.</summary>
    public ITrainingTask Task => task;

    /// <summary>
    /// Trains until max_steps, max_minutes (counted over all sessions of the run) or cancellation;
    /// always ends with a checkpoint. <paramref name="pauseAt"/> stops earlier, as an interruption would.
    /// Returns the losses of every step it ran (for tests and logs).
    /// </summary>
    public List<double> Train(CancellationToken cancel = default, int? pauseAt = null)
    {
        var losses = new List<double>();
        var clock = Stopwatch.StartNew();
        double startElapsed = state.ElapsedSeconds, windowLoss = 0;
        long windowTokens = 0;
        var window = Stopwatch.StartNew();
        int windowSteps = 0;
        bool evaluatedLast = false;
        while (state.Step < Math.Min(config.MaxSteps, pauseAt ?? int.MaxValue) && !cancel.IsCancellationRequested
               && (config.MaxMinutes <= 0 || startElapsed + clock.Elapsed.TotalSeconds < config.MaxMinutes * 60))
        {
            double loss;
            long tokens;
            double lr = LearningRateSchedule.At(state.Step, startElapsed + clock.Elapsed.TotalSeconds, config);
            using (var scope = NewDisposeScope())
            {
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
                optimizer.zero_grad();
                var (lossTensor, n) = task.Loss(state.Epoch, state.Index);
                lossTensor.backward();
                nn.utils.clip_grad_norm_(parameters.Select(p => p.Param), config.GradClip);
                optimizer.step();
                loss = lossTensor.item<float>();
                tokens = n;
                if (ema is not null) UpdateEma(config.EmaDecay!.Value);
            }
            if (!double.IsFinite(loss)) throw new InvalidOperationException($"loss became {loss} at step {state.Step}; lower lr or check the data");
            losses.Add(loss);
            int index = state.Index + 1, epoch = state.Epoch;
            if (index == task.BatchesPerEpoch) { index = 0; epoch++; }
            state = state with { Step = state.Step + 1, Epoch = epoch, Index = index, TokensSeen = state.TokensSeen + tokens, ElapsedSeconds = startElapsed + clock.Elapsed.TotalSeconds };
            windowLoss += loss; windowTokens += tokens; windowSteps++;
            evaluatedLast = false;

            if (state.Step % config.LogEvery == 0 || state.Step == config.MaxSteps || windowSteps == state.Step)   // and the first step of a session: progress shows at once
            {
                double perSecond = windowTokens / Math.Max(1e-9, window.Elapsed.TotalSeconds);
                run.AppendMetrics(Row(lr, windowLoss / windowSteps, perSecond, null));
                report(Progress(windowLoss / windowSteps, perSecond, null, null));
                windowLoss = 0; windowTokens = 0; windowSteps = 0;
                window.Restart();
            }
            if (state.Step % config.EvalEvery == 0) { Evaluate(lr); evaluatedLast = true; }
            if (state.Step % config.CheckpointEvery == 0) Checkpoint();
        }
        if (!evaluatedLast && state.Step > 0) Evaluate(LearningRateSchedule.At(state.Step, state.ElapsedSeconds, config));
        Checkpoint();
        report(Progress(null, 0, null, $"stopped at step {state.Step} after {TimeSpan.FromSeconds(state.ElapsedSeconds):hh\\:mm\\:ss} of training" +
            (cancel.IsCancellationRequested ? " (interrupted; --resume continues)" : "")));
        return losses;
    }

    private void Evaluate(double lr)
    {
        using var swap = EmaSwap();
        var result = task.Evaluate(config.EvalLimit);
        run.AppendMetrics(Row(lr, null, null, result));
        if (state.BestValidationLoss is null || result.Loss < state.BestValidationLoss)
        {
            state = state with { BestValidationLoss = result.Loss };
            var dtype = config.ExportDtype switch { "float16" => ScalarType.Float16, "bfloat16" => ScalarType.BFloat16, _ => ScalarType.Float32 };
            RunDirectory.ReplaceDirectory(run.Best, dir =>
            {
                task.SaveModel(dir, dtype);
                File.WriteAllText(Path.Combine(dir, "validation.json"), JsonSerializer.Serialize(new { step = state.Step, validation = result }, JsonFile.Indented));
            });
        }
        report(Progress(null, 0, result, null));
    }

    private void Checkpoint()
    {
        using var rng = random.get_rng_state();
        state = state with { RngState = Convert.ToBase64String(rng.data<byte>().ToArray()) };
        run.Save(state, task.Model, optimizer, ema, config);
    }

    /// <summary>The keys (dotted paths into "model") whose values differ between two configs, budget keys (max_steps, max_minutes, threads) aside.</summary>
    internal static List<string> ChangedKeys(TrainConfig a, TrainConfig b)
    {
        static System.Text.Json.Nodes.JsonNode? Essentials(TrainConfig c) =>
            System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(c with { MaxSteps = 0, MaxMinutes = 0, Threads = 1, LogEvery = 1, EvalEvery = 1, CheckpointEvery = 1 }));
        var changed = new List<string>();
        void Compare(System.Text.Json.Nodes.JsonNode? x, System.Text.Json.Nodes.JsonNode? y, string path)
        {
            if (x is System.Text.Json.Nodes.JsonObject ox && y is System.Text.Json.Nodes.JsonObject oy)
            {
                foreach (var key in ox.Select(kv => kv.Key).Union(oy.Select(kv => kv.Key)))
                    Compare(ox[key], oy[key], path.Length == 0 ? key : $"{path}.{key}");
            }
            else if (!System.Text.Json.Nodes.JsonNode.DeepEquals(x, y)) changed.Add(path);
        }
        Compare(Essentials(a), Essentials(b), "");
        return changed;
    }

    private void UpdateEma(double decay)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in parameters) ema![name].mul_(decay).add_(p, alpha: 1 - decay);
    }

    /// <summary>With EMA on, the averaged weights stand in for the trained ones until disposed.</summary>
    private IDisposable? EmaSwap()
    {
        if (ema is null) return null;
        var backup = parameters.ToDictionary(p => p.Name, p => p.Param.detach().clone());
        using (no_grad()) foreach (var (name, p) in parameters) p.copy_(ema[name]);
        return new Restore(() =>
        {
            using (no_grad()) foreach (var (name, p) in parameters) p.copy_(backup[name]);
            foreach (var t in backup.Values) t.Dispose();
        });
    }

    private sealed class Restore(Action action) : IDisposable
    {
        /// <summary>Frees the optimizer, the EMA copy and the task, and releases the run directory.</summary>
        public void Dispose() => action();
    }

    private Dictionary<string, double?> Row(double lr, double? trainLoss, double? tokensPerSecond, EvalResult? val) => new()
    {
        ["step"] = state.Step, ["epoch"] = state.Epoch, ["lr"] = lr, ["train_loss"] = trainLoss, ["tokens_seen"] = state.TokensSeen,
        ["tokens_per_s"] = tokensPerSecond, ["elapsed_s"] = state.ElapsedSeconds, ["rss_mb"] = Environment.WorkingSet / 1048576.0,
        ["val_loss"] = val?.Loss, ["val_ppl"] = val?.Ppl, ["val_bits_per_byte"] = val?.BitsPerByte,
        ["val_token_accuracy"] = val?.TokenAccuracy, ["val_exact_match"] = val?.ExactMatch,
    };

    private TrainProgress Progress(double? loss, double tokensPerSecond, EvalResult? val, string? message)
    {
        double secondsPerStep = state.Step == 0 ? 0 : state.ElapsedSeconds / state.Step;
        double remainingBySteps = (config.MaxSteps - state.Step) * secondsPerStep;
        double remaining = config.MaxMinutes > 0 ? Math.Min(remainingBySteps, config.MaxMinutes * 60 - state.ElapsedSeconds) : remainingBySteps;
        double done = Math.Max((double)state.Step / config.MaxSteps, config.MaxMinutes > 0 ? state.ElapsedSeconds / (config.MaxMinutes * 60) : 0);
        return new TrainProgress(state.Step, config.MaxSteps, state.Epoch, LearningRateSchedule.At(state.Step, state.ElapsedSeconds, config), loss, tokensPerSecond,
            state.TokensSeen, TimeSpan.FromSeconds(state.ElapsedSeconds), state.Step == 0 ? null : TimeSpan.FromSeconds(Math.Max(0, remaining)), val, message)
        { Done = Math.Clamp(done, 0, 1) };
    }

    /// <summary>Frees the optimizer, the EMA copy and the task, and releases the run directory.</summary>
    public void Dispose()
    {
        optimizer.Dispose();
        if (ema is not null) foreach (var t in ema.Values) t.Dispose();
        task.Dispose();
        runLock.Dispose();
    }
}
