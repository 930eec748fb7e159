using SentenceVae.Training;

namespace SentenceVae.Tests.Training;

/// <summary>Short real runs of the shipped configs (opt-in: minutes of CPU).</summary>
[Trait("Category", "Training")]
public class RealTrainingTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-real").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static TrainConfig Shipped(string name) =>
        TrainConfig.Load(Path.Combine(TestPaths.RepoRoot, "configs", name + ".json")) with
        {
            TrainData = TestPaths.Data("austen-train.txt"), ValidData = TestPaths.Data("austen-valid.txt"), Threads = 2,
        };

    [TrainingFact]
    public void Vae256H1LearnsToReconstructWithinAFewHundredSteps()
    {
        var config = Shipped("vae-256-h1") with { MaxSteps = 400, MaxMinutes = 0, EvalEvery = 400, EvalLimit = 500, CheckpointEvery = 200 };
        using var trainer = new Trainer(config, Path.Combine(dir, "vae"), false, c => new VaeTrainingTask(c));
        var losses = trainer.Train();
        Assert.True(losses.TakeLast(50).Average() < 0.5 * losses.Take(50).Average());
        var validation = trainer.Task.Evaluate(500);
        Assert.True(validation.TokenAccuracy > 0.3, $"token accuracy {validation.TokenAccuracy}");
    }

    [TrainingFact]
    public void Lm256BitsPerByteFallsBelowAUniformModel()
    {
        var config = Shipped("lm-256") with { MaxSteps = 100, MaxMinutes = 0, EvalEvery = 100, EvalLimit = 5000, CheckpointEvery = 100 };
        using var trainer = new Trainer(config, Path.Combine(dir, "lm"), false, c => new LmTrainingTask(c));
        trainer.Train();
        var validation = trainer.Task.Evaluate(5000);
        // A uniform model over 8192 ids costs 13 bits per token, ~3.4 bits per byte at ~0.265 tokens/byte.
        Assert.True(validation.BitsPerByte < 2.5, $"bits per byte {validation.BitsPerByte}");
    }

    [TrainingFact]
    public void Sllm256E2eLearnsEndToEndFromScratch()
    {
        var config = Shipped("sllm-256-e2e") with { MaxSteps = 60, MaxMinutes = 0, EvalEvery = 60, EvalLimit = 3000, CheckpointEvery = 60 };
        using var trainer = new Trainer(config, Path.Combine(dir, "sllm"), false, c => new SllmTrainingTask(c));
        var losses = trainer.Train();
        Assert.True(losses.TakeLast(10).Average() < losses.Take(10).Average() - 1, "the loss falls");
        var validation = trainer.Task.Evaluate(3000);
        Assert.True(validation.BitsPerByte < 3.0, $"bits per byte {validation.BitsPerByte}");
    }
}
