using SentenceVae.Evaluation;

namespace SentenceVae.Training;

/// <summary>A report from the training loop: after every log interval, after each evaluation, and for notable events.</summary>
public sealed record TrainProgress(int Step, int MaxSteps, int Epoch, double LearningRate, double? Loss, double TokensPerSecond,
    long TokensSeen, TimeSpan Elapsed, TimeSpan? Eta, EvalResult? Validation, string? Message);
