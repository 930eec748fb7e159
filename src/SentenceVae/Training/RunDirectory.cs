using System.Globalization;
using System.Text.Json;
using SentenceVae.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using System.Runtime.InteropServices;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SentenceVae.Training;

/// <summary>Where the trainer is in its run: enough to continue exactly.</summary>
public sealed record TrainState(int Step, int Epoch, int Index, long TokensSeen, double ElapsedSeconds, double? BestValidationLoss, string RngState);

/// <summary>
/// A training run's folder: <c>train_config.json</c>, <c>metrics.csv</c>, <c>checkpoints/step-N/</c>
/// (weights, optimizer, EMA, state) with a <c>checkpoints/latest</c> pointer, and <c>best/</c> (the model
/// directory chosen on validation). Every write is atomic (temporary name, then rename), so a process
/// killed at any moment leaves the previous checkpoint intact and loadable.
/// </summary>
internal sealed class RunDirectory(string path)
{
    public const string ConfigFile = "train_config.json", MetricsFile = "metrics.csv", BestDir = "best";
    private const string Latest = "latest", ModelFile = "model.safetensors", EmaFile = "ema.safetensors", OptimizerFile = "optimizer.bin", StateFile = "state.json";
    /// <summary>The run's config as it was when the checkpoint was written (what an edited train_config.json is checked against).</summary>
    public const string ConfigSnapshotFile = "train_config.json";
    private const int KeepCheckpoints = 2;

    public string Path { get; } = path;
    private string Checkpoints => System.IO.Path.Combine(Path, "checkpoints");
    public string Best => System.IO.Path.Combine(Path, BestDir);
    public string Metrics => System.IO.Path.Combine(Path, MetricsFile);

    /// <summary>
    /// The newest complete checkpoint's folder, or null: the one <c>checkpoints/latest</c> names, or — when
    /// that pointer is missing, names no checkpoint folder of this run, or names one that is gone — the
    /// newest <c>step-*</c> folder there is (<see cref="PointerProblem"/> says why).
    /// </summary>
    public string? LatestCheckpoint => Pointed().Dir;

    /// <summary>Why <c>checkpoints/latest</c> could not be followed (null when it was, or when the run has no checkpoint).</summary>
    public string? PointerProblem => Pointed().Problem;

    private (string? Dir, string? Problem) Pointed()
    {
        string pointer = System.IO.Path.Combine(Checkpoints, Latest);
        string? newest = Directory.Exists(Checkpoints) ? Directory.GetDirectories(Checkpoints, "step-*").Order(StringComparer.Ordinal).LastOrDefault() : null;
        if (!File.Exists(pointer)) return (newest, newest is null ? null : $"{pointer} is missing");
        string name = File.ReadAllText(pointer).Trim();
        // Only a checkpoint folder of this run: a name with a path in it (../../etc) is not followed.
        if (!System.Text.RegularExpressions.Regex.IsMatch(name, @"^step-[0-9]+$"))
            return (newest, $"{pointer} names '{name}', which is not a checkpoint folder of this run");
        string dir = System.IO.Path.Combine(Checkpoints, name);
        return Directory.Exists(dir) ? (dir, null) : (newest, $"{pointer} names {name}, which is missing");
    }

    public void Save(TrainState state, nn.Module model, OptimizerHelper optimizer, IReadOnlyDictionary<string, Tensor>? ema, TrainConfig config)
    {
        Directory.CreateDirectory(Checkpoints);
        string name = $"step-{state.Step:D7}";
        string tmp = System.IO.Path.Combine(Checkpoints, $".tmp-{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        Safetensors.SaveStateDict(System.IO.Path.Combine(tmp, ModelFile), StateDicts.ForSaving(model.state_dict(), ScalarType.Float32));
        if (ema is not null) Safetensors.SaveStateDict(System.IO.Path.Combine(tmp, EmaFile), StateDicts.ForSaving(ema, ScalarType.Float32));
        optimizer.save_state_dict(System.IO.Path.Combine(tmp, OptimizerFile));
        File.WriteAllText(System.IO.Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, JsonFile.Indented));
        config.Save(System.IO.Path.Combine(tmp, ConfigSnapshotFile));

        string final = System.IO.Path.Combine(Checkpoints, name);
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(tmp, final);
        WriteAtomically(System.IO.Path.Combine(Checkpoints, Latest), name + "\n");

        foreach (var old in Directory.GetDirectories(Checkpoints, "step-*").Order().SkipLast(KeepCheckpoints)) Directory.Delete(old, true);
        foreach (var stale in Directory.GetDirectories(Checkpoints, ".tmp-*")) Directory.Delete(stale, true);
    }

    /// <summary>The config saved with the latest checkpoint, or null (a checkpoint from before snapshots were kept).</summary>
    public TrainConfig? ConfigSnapshot()
    {
        string? dir = LatestCheckpoint;
        string path = dir is null ? "" : System.IO.Path.Combine(dir, ConfigSnapshotFile);
        return File.Exists(path) ? TrainConfig.Load(path) : null;
    }

    /// <summary>
    /// Restores model, optimizer and EMA from the newest checkpoint that reads whole, starting at the
    /// latest; a damaged one (truncated file, broken state.json, …) is skipped for the one before it,
    /// and <paramref name="warn"/> says so. Returns the state of the checkpoint used.
    /// </summary>
    public TrainState Load(nn.Module model, OptimizerHelper optimizer, Dictionary<string, Tensor>? ema, Action<string>? warn = null)
    {
        var (latest, pointerProblem) = Pointed();
        if (latest is null) throw new CheckpointException($"{Path}: no checkpoint to resume from{(pointerProblem is null ? "" : $" ({pointerProblem})")}");
        var candidates = Directory.GetDirectories(Checkpoints, "step-*").Where(d => string.CompareOrdinal(d, latest) <= 0).OrderDescending(StringComparer.Ordinal).ToList();
        var problems = new List<string>();
        if (pointerProblem is not null) problems.Add($"{pointerProblem}; using the newest checkpoint folder");
        foreach (var dir in candidates)
        {
            try
            {
                var state = LoadOne(dir, model, optimizer, ema);
                if (problems.Count > 0) warn?.Invoke($"{string.Join("; ", problems)}; resumed from {System.IO.Path.GetFileName(dir)} instead");
                return state;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or JsonException or ArgumentException or InvalidOperationException or ExternalException)
            {
                problems.Add($"checkpoint {System.IO.Path.GetFileName(dir)} is damaged ({e.Message})");
            }
        }
        throw new CheckpointException($"{Path}: no checkpoint could be read: {(problems.Count == 0 ? $"no checkpoint folder (step-*) in {Checkpoints}" : string.Join("; ", problems))}");
    }

    private static TrainState LoadOne(string dir, nn.Module model, OptimizerHelper optimizer, Dictionary<string, Tensor>? ema)
    {
        string statePath = System.IO.Path.Combine(dir, StateFile);
        TrainState state;
        try { state = JsonSerializer.Deserialize<TrainState>(File.ReadAllText(statePath)) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new CheckpointException($"{statePath}: not a valid state file ({e.Message})"); }
        var weights = HuggingFaceCheckpoint.ReadSafetensors(System.IO.Path.Combine(dir, ModelFile));
        StateDicts.LoadStrict(model, weights, dir);
        if (ema is not null)
        {
            using var noGrad = no_grad();
            foreach (var (key, value) in HuggingFaceCheckpoint.ReadSafetensors(System.IO.Path.Combine(dir, EmaFile))) ema[key].copy_(value);
        }
        string optimizerPath = System.IO.Path.Combine(dir, OptimizerFile);
        try { optimizer.load_state_dict(optimizerPath); }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException)
        {
            throw new CheckpointException($"{optimizerPath}: unreadable optimizer state ({e.Message})");
        }
        return state;
    }

    public static string WriteAtomically(string path, string text)
    {
        string tmp = path + $".tmp-{Environment.ProcessId}";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
        return path;
    }

    /// <summary>Replaces a folder by a freshly written one (write into a temporary folder, then swap).</summary>
    public static void ReplaceDirectory(string target, Action<string> write)
    {
        string tmp = target + $".tmp-{Guid.NewGuid():N}";
        write(tmp);
        string old = target + $".old-{Guid.NewGuid():N}";
        if (Directory.Exists(target)) Directory.Move(target, old);
        Directory.Move(tmp, target);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    /// <summary>metrics.csv: one row per log interval (train columns) or evaluation (validation columns).</summary>
    public static readonly string[] MetricColumns =
    {
        "step", "epoch", "lr", "train_loss", "tokens_seen", "tokens_per_s", "elapsed_s", "rss_mb",
        "val_loss", "val_ppl", "val_bits_per_byte", "val_token_accuracy", "val_exact_match",
    };

    public void AppendMetrics(IReadOnlyDictionary<string, double?> row)
    {
        bool header = !File.Exists(Metrics);
        using var writer = new StreamWriter(Metrics, append: true);
        if (header) writer.WriteLine(string.Join(',', MetricColumns));
        writer.WriteLine(string.Join(',', MetricColumns.Select(c => row.TryGetValue(c, out var v) && v is double d ? d.ToString("R", CultureInfo.InvariantCulture) : "")));
    }

    /// <summary>Drops metric rows logged after <paramref name="step"/> (by a run killed after its last checkpoint).</summary>
    public void TruncateMetricsAfter(int step)
    {
        if (!File.Exists(Metrics)) return;
        var lines = File.ReadAllLines(Metrics);
        var kept = lines.Take(1).Concat(lines.Skip(1).Where(l => int.Parse(l.Split(',')[0], CultureInfo.InvariantCulture) <= step));
        WriteAtomically(Metrics, string.Join('\n', kept) + "\n");
    }
}
