using SentenceVae.Evaluation;

namespace SentenceVae.Training;

/// <summary>A report from the training loop: after every log interval, after each evaluation, and for notable events.</summary>
public sealed record TrainProgress(int Step, int MaxSteps, int Epoch, double LearningRate, double? Loss, double TokensPerSecond,
    long TokensSeen, TimeSpan Elapsed, TimeSpan? Eta, EvalResult? Validation, string? Message)
{
    /// <summary>How much of the run is done, 0 to 1, by whichever budget ends it first: steps (max_steps) or time (max_minutes).</summary>
    public double Done { get; init; }
}
