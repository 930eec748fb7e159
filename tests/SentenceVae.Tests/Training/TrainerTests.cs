using SentenceVae.Modules;
using System.Diagnostics;
using System.Text.Json.Nodes;
using SentenceVae.Text;
using SentenceVae.Training;

namespace SentenceVae.Tests.Training;

public class TrainerTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-train").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    /// <summary>Small train/valid files cut from the Moby-Dick slice.</summary>
    private (string Train, string Valid) TinyCorpus()
    {
        var chapters = File.ReadLines(TestPaths.Data("mobydick-ch01-18.txt")).Where(l => l.Length > 0).ToList();
        string train = Path.Combine(dir, "train.txt"), valid = Path.Combine(dir, "valid.txt");
        File.WriteAllLines(train, chapters.Take(2).Select(c => c[..Math.Min(c.Length, 6000)]));
        File.WriteAllLines(valid, chapters.Skip(2).Take(1).Select(c => c[..2000]));
        return (train, valid);
    }

    internal TrainConfig TinyVae(int steps, double dropout = 0.1)
    {
        var (train, valid) = TinyCorpus();
        var tok = TextTokenizers.Compact;
        return new TrainConfig
        {
            Kind = "vae", TrainData = train, ValidData = valid, BatchSize = 16, MaxSteps = steps, WarmupSteps = 5, LearningRate = 3e-3, MinLearningRate = 3e-4,
            EvalEvery = 1000, EvalLimit = 40, CheckpointEvery = 5, LogEvery = 5, Threads = 1, Seed = 7,
            Model = new JsonObject
            {
                ["hidden_size"] = 32, ["num_attention_heads"] = 2, ["num_hidden_layers"] = 1, ["vocab_size"] = tok.VocabSize, ["max_seq_len"] = 64,
                ["dropout"] = dropout, ["bos_id"] = tok.BosId, ["eos_id"] = tok.EosId, ["pad_id"] = tok.PadId, ["learnable_add"] = true,
            },
        };
    }

    private TrainConfig TinyLm(int steps)
    {
        var (train, valid) = TinyCorpus();
        var tok = TextTokenizers.Compact;
        return new TrainConfig
        {
            Kind = "lm", TrainData = train, ValidData = valid, BatchSize = 4, SeqLen = 32, MaxSteps = steps, WarmupSteps = 5, LearningRate = 3e-3,
            MinLearningRate = 3e-4, EvalEvery = 1000, EvalLimit = 500, CheckpointEvery = 5, LogEvery = 5, Threads = 1, Seed = 7, Loss = LossKind.CrossEntropy, EmaDecay = 0.9,
            Model = new JsonObject
            {
                ["vocab_size"] = tok.VocabSize, ["hidden_size"] = 32, ["num_hidden_layers"] = 1, ["ffn_dim"] = 64, ["num_attention_heads"] = 2,
                ["max_position_embeddings"] = 64, ["dropout"] = 0.1, ["pad_token_id"] = tok.PadId, ["bos_token_id"] = tok.BosId, ["eos_token_id"] = tok.EosId,
            },
        };
    }

    private TrainConfig TinySllm(int steps)
    {
        var vae = TinyVae(steps);
        var tok = TextTokenizers.Compact;
        var backbone = new JsonObject
        {
            ["vocab_size"] = tok.VocabSize, ["hidden_size"] = 32, ["num_hidden_layers"] = 1, ["ffn_dim"] = 64, ["num_attention_heads"] = 2,
            ["max_position_embeddings"] = 16, ["dropout"] = 0.1, ["pad_token_id"] = tok.PadId, ["bos_token_id"] = tok.BosId, ["eos_token_id"] = tok.EosId,
        };
        return vae with
        {
            Kind = "sllm", BatchSize = 2, WindowPieces = 8, EvalLimit = 200,
            Model = new JsonObject { ["svae"] = JsonNode.Parse(vae.Model.ToJsonString()), ["backbone"] = backbone, ["use_start_vector"] = true },
        };
    }

    private static Func<TrainConfig, ITrainingTask> Factory => c => c.Kind switch
    {
        "vae" => new VaeTrainingTask(c),
        "lm" => new LmTrainingTask(c),
        _ => new SllmTrainingTask(c),
    };

    [Fact]
    public void LossFallsOnATinyCorpus()
    {
        using var trainer = new Trainer(TinyVae(60), Path.Combine(dir, "run"), resume: false, Factory);
        var losses = trainer.Train();
        Assert.Equal(60, losses.Count);
        Assert.True(losses.TakeLast(10).Average() < 0.7 * losses.Take(10).Average(), $"loss {losses.Take(10).Average()} → {losses.TakeLast(10).Average()}");
        Assert.True(File.Exists(Path.Combine(dir, "run", "best", "model.safetensors")));
        Assert.True(File.ReadLines(Path.Combine(dir, "run", RunDirectory.MetricsFile)).Count() > 10);
    }

    [Theory]
    [InlineData("vae")]
    [InlineData("lm")]
    [InlineData("sllm")]
    public void AResumedRunContinuesExactlyAsAnUninterruptedOne(string kind)
    {
        TrainConfig Config(int steps) => kind switch { "vae" => TinyVae(steps), "lm" => TinyLm(steps), _ => TinySllm(steps) };
        List<double> whole;
        using (var trainer = new Trainer(Config(20), Path.Combine(dir, "whole"), false, Factory)) whole = trainer.Train();

        // The same run, stopped after 10 steps and resumed from its checkpoint by a new Trainer.
        string split = Path.Combine(dir, "split");
        using (var first = new Trainer(Config(20), split, false, Factory))
            Assert.Equal(whole.Take(10), first.Train(pauseAt: 10));
        using var resumed = new Trainer(null, split, resume: true, Factory);
        Assert.Equal(10, resumed.State.Step);
        Assert.Equal(whole.Skip(10), resumed.Train());
    }

    [MountFact]
    public void ADiskThatFillsWhileCheckpointingIsOneErrorAndThePreviousCheckpointResumes()
    {
        // A run on a small tmpfs, filled up after its first checkpoint.
        string disk = Path.Combine(dir, "disk");
        Directory.CreateDirectory(disk);
        var mount = Process.Start(new ProcessStartInfo("mount", ["-t", "tmpfs", "-o", "size=48m", "tmpfs", disk]) { RedirectStandardError = true })!;
        mount.WaitForExit();
        Assert.True(mount.ExitCode == 0, mount.StandardError.ReadToEnd());
        try
        {
            string run = Path.Combine(disk, "run");
            using (var first = new Trainer(TinyVae(20), run, false, Factory)) first.Train(pauseAt: 5);
            string filler = Path.Combine(disk, "filler");
            using (var fill = File.Create(filler))
            {
                var block = new byte[1 << 16];
                try { while (true) fill.Write(block); } catch (IOException) { }
                fill.SetLength(Math.Max(0, fill.Length - (256 << 10)));                          // room for the metrics, not for a checkpoint
            }
            using (var second = new Trainer(null, run, resume: true, Factory))
            {
                var e = Assert.ThrowsAny<IOException>(() => second.Train(pauseAt: 10));
                Assert.DoesNotContain('\n', e.Message);
            }
            File.Delete(filler);
            using var third = new Trainer(null, run, resume: true, Factory);
            Assert.Equal(5, third.State.Step);                                                  // the checkpoint before the full disk survived
            third.Train(pauseAt: 10);
            Assert.Equal(10, third.State.Step);
        }
        finally { Process.Start("umount", [disk])!.WaitForExit(); }
    }

    [Fact]
    public void ASecondTrainerOfTheSameRunIsRefusedNamingTheHolderUntilTheFirstEnds()
    {
        string run = Path.Combine(dir, "locked");
        using (var first = new Trainer(TinyVae(20), run, false, Factory))
        {
            first.Train(pauseAt: 5);
            string metrics = File.ReadAllText(Path.Combine(run, "metrics.csv")), config = File.ReadAllText(Path.Combine(run, "train_config.json"));
            foreach (bool resume in new[] { false, true })
            {
                var e = Assert.Throws<IOException>(() => new Trainer(resume ? null : TinyVae(20), run, resume, Factory));
                Assert.Contains($"process {Environment.ProcessId}", e.Message);
                Assert.Contains(".lock", e.Message);
            }
            Assert.Equal(metrics, File.ReadAllText(Path.Combine(run, "metrics.csv")));       // the refused trainers touched nothing
            Assert.Equal(config, File.ReadAllText(Path.Combine(run, "train_config.json")));
        }
        // Released when the first ends (the lock file stays and is taken over).
        using var resumed = new Trainer(null, run, resume: true, Factory);
        Assert.Equal(5, resumed.State.Step);
    }

    [Fact]
    public void AnEditedRunConfigIsRefusedNamingTheChangedKeys()
    {
        string run = Path.Combine(dir, "edited");
        using (var first = new Trainer(TinyVae(20), run, false, Factory)) first.Train(pauseAt: 10);
        string configPath = Path.Combine(run, "train_config.json");
        var json = JsonNode.Parse(File.ReadAllText(configPath))!;
        json["lr"] = 0.5;
        json["model"]!["dropout"] = 0.3;
        json["max_steps"] = 30;                                             // the budget may change
        File.WriteAllText(configPath, json.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => new Trainer(null, run, resume: true, Factory));
        Assert.Contains("lr", e.Message);
        Assert.Contains("model.dropout", e.Message);
        Assert.Contains("(model.dropout, lr)", e.Message);                 // exactly the edited keys, the budget not among them

        // A budget change alone resumes.
        json["lr"] = TinyVae(20).LearningRate;
        json["model"]!["dropout"] = 0.1;
        File.WriteAllText(configPath, json.ToJsonString());
        using var resumed = new Trainer(null, run, resume: true, Factory);
        Assert.Equal(10, resumed.State.Step);
        Assert.Equal(30, resumed.Config.MaxSteps);
    }

    [Fact]
    public void ADamagedLatestCheckpointFallsBackToThePreviousOneAndSaysSo()
    {
        string run = Path.Combine(dir, "damaged");
        using (var first = new Trainer(TinyVae(20), run, false, Factory)) first.Train(pauseAt: 10);   // checkpoints at steps 5 and 10
        string latest = Path.Combine(run, "checkpoints", "step-0000010");
        var weights = Path.Combine(latest, "model.safetensors");
        File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..1000]);   // cut, as a full disk would
        var messages = new List<string>();
        using (var resumed = new Trainer(null, run, resume: true, Factory, p => { if (p.Message is { } m) messages.Add(m); }))
            Assert.Equal(5, resumed.State.Step);
        Assert.Contains(messages, m => m.Contains("step-0000010") && m.Contains("damaged") && m.Contains("resumed from step-0000005"));

        // With every checkpoint broken, the error names the files.
        File.WriteAllText(Path.Combine(run, "checkpoints", "step-0000005", "state.json"), "{ broken");
        var e = Assert.Throws<SentenceVae.Checkpoints.CheckpointException>(() => new Trainer(null, run, resume: true, Factory));
        Assert.Contains("state.json", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Theory]
    [InlineData("step-0000099")]                 // a pointer to a checkpoint that is gone
    [InlineData("../../../../../etc")]           // a pointer out of the run
    [InlineData(null)]                           // no pointer at all
    public void ALatestPointerThatCannotBeFollowedFallsBackToTheNewestCheckpointAndSaysWhy(string? pointer)
    {
        string run = Path.Combine(dir, "pointer-" + (pointer?.Length ?? 0));
        using (var first = new Trainer(TinyVae(20), run, false, Factory)) first.Train(pauseAt: 10);
        string latest = Path.Combine(run, "checkpoints", "latest");
        if (pointer is null) File.Delete(latest); else File.WriteAllText(latest, pointer + "\n");
        var messages = new List<string>();
        using (var resumed = new Trainer(null, run, resume: true, Factory, p => { if (p.Message is { } m) messages.Add(m); }))
            Assert.Equal(10, resumed.State.Step);
        Assert.Contains(messages, m => m.Contains("latest") && m.Contains("newest checkpoint") && (pointer is null ? m.Contains("missing") : m.Contains(pointer)));
    }

    [Fact]
    public void ARunWithoutCheckpointFoldersSaysSo()
    {
        string run = Path.Combine(dir, "empty-checkpoints");
        using (var first = new Trainer(TinyVae(20), run, false, Factory)) first.Train(pauseAt: 10);
        foreach (var checkpoint in Directory.GetDirectories(Path.Combine(run, "checkpoints"), "step-*")) Directory.Delete(checkpoint, true);
        var e = Assert.ThrowsAny<Exception>(() => new Trainer(null, run, resume: true, Factory));
        Assert.Contains("checkpoint", e.Message);
        Assert.DoesNotMatch(@":\s*$", e.Message);             // never "could not be read: " with nothing after it
    }

    [Fact]
    public void SllmLossFallsAndItsBestModelScoresEveryByte()
    {
        using var trainer = new Trainer(TinySllm(40), Path.Combine(dir, "sllm"), resume: false, Factory);
        var losses = trainer.Train();
        Assert.True(losses.TakeLast(8).Average() < 0.8 * losses.Take(8).Average(), $"loss {losses.Take(8).Average()} → {losses.TakeLast(8).Average()}");
        using var model = SentenceVae.Checkpoints.SentenceLlmCheckpoint.Load(Path.Combine(dir, "sllm", "best"));
        var docs = File.ReadLines(trainer.Config.ValidData).ToList();
        var tok = TextTokenizers.Load(Path.Combine(dir, "sllm", "best"));
        var result = SentenceVae.Evaluation.SllmEvaluator.Evaluate(model, tok, docs);
        Assert.Equal(docs.Sum(d => (long)System.Text.Encoding.UTF8.GetByteCount(d)), result.Bytes);
        var splitter = new SentenceSplitter(new SplitterOptions { MaxTokens = 63, CountTokens = tok.CountTokens });
        Assert.Equal(docs.SelectMany(splitter.Split).Sum(p => tok.Encode(p).Count + 1L), result.Tokens);   // every piece's tokens + EOS
        Assert.InRange(result.BitsPerByte!.Value, 0.1, 20);
    }

    [Fact]
    public void ResumingRequiresTheSameConfigAndStartingTwiceIsRefused()
    {
        string run = Path.Combine(dir, "run");
        using (var t = new Trainer(TinyVae(5), run, false, Factory)) t.Train();
        Assert.Throws<InvalidDataException>(() => new Trainer(TinyVae(5), run, false, Factory));
        Assert.Throws<InvalidDataException>(() => new Trainer(TinyVae(5) with { LearningRate = 0.5 }, run, true, Factory));
        using (var extended = new Trainer(TinyVae(9), run, true, Factory))      // a larger budget continues the run
        {
            Assert.Equal(5, extended.State.Step);
            Assert.Equal(4, extended.Train().Count);
        }
        Assert.Throws<FileNotFoundException>(() => new Trainer(null, Path.Combine(dir, "none"), true, Factory));
    }

    /// <summary>
    /// A training process killed with SIGKILL at arbitrary moments (several times, mid-write included:
    /// it checkpoints every step) always leaves a latest checkpoint that loads and resumes.
    /// </summary>
    [Fact]
    public void SigkillAtAnyMomentLeavesTheLastCheckpointLoadable()
    {
        string configPath = Path.Combine(dir, "tiny.json");
        (TinyVae(100_000) with { CheckpointEvery = 1, LogEvery = 1, EvalEvery = 100_000 }).Save(configPath);
        string run = Path.Combine(dir, "killed");
        var rng = new Random(5);
        int lastStep = -1;
        for (int attempt = 0; attempt < 4; attempt++)
        {
            var args = attempt == 0 ? $"train vae --config \"{configPath}\" --out \"{run}\"" : $"train vae --resume --out \"{run}\"";
            using var process = Process.Start(new ProcessStartInfo("dotnet", $"\"{Path.Combine(AppContext.BaseDirectory, "svae.dll")}\" {args}")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            })!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            // Wait until it has written at least one checkpoint beyond the last one, then kill at a random moment.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline && !process.HasExited && CheckpointStep(run) <= lastStep) Thread.Sleep(20);
            Thread.Sleep(rng.Next(0, 400));
            Assert.False(process.HasExited, "the training process ended by itself");
            process.Kill(entireProcessTree: true);        // SIGKILL
            process.WaitForExit();

            using var resumed = new Trainer(null, run, resume: true, Factory);   // loads weights, optimizer, RNG and data position
            Assert.True(resumed.State.Step > lastStep, $"attempt {attempt}: step {resumed.State.Step} after {lastStep}");
            lastStep = resumed.State.Step;
        }
    }

    private static int CheckpointStep(string run)
    {
        try
        {
            string? latest = new RunDirectory(run).LatestCheckpoint;
            return latest is null ? -1 : int.Parse(Path.GetFileName(latest)["step-".Length..]);
        }
        catch (IOException) { return -1; }
    }
}

public class LearningRateScheduleTests
{
    [Fact]
    public void ATimeLimitedRunFinishesItsDecayInsideItsMinutes()
    {
        var c = new TrainConfig { LearningRate = 1e-3, MinLearningRate = 1e-4, WarmupSteps = 10, MaxSteps = 100_000, MaxMinutes = 10 };
        Assert.Equal(1e-4, LearningRateSchedule.At(50, 10 * 60, c), 12);                      // budget spent: at the floor
        Assert.Equal(0.55e-3, LearningRateSchedule.At(50, 5 * 60, c), 9);                     // halfway through the minutes: halfway down
        Assert.True(LearningRateSchedule.At(50, 60, c) > LearningRateSchedule.At(50, 120, c)); // decays with time at a fixed step
        var bySteps = c with { MaxMinutes = 0, MaxSteps = 110 };
        Assert.Equal(1e-4, LearningRateSchedule.At(110, 0, bySteps), 12);                       // without a time limit: by steps, as before
        Assert.Equal(0.55e-3, LearningRateSchedule.At(60, 1e9, bySteps), 9);
    }
}
