namespace SentenceVae.Training;

/// <summary>Linear warmup from 0 to the peak, then cosine decay to the minimum at the last step.</summary>
public static class LearningRateSchedule
{
    public static double At(int step, TrainConfig c)
    {
        if (step < c.WarmupSteps) return c.LearningRate * (step + 1) / c.WarmupSteps;
        double progress = Math.Min(1.0, (double)(step - c.WarmupSteps) / Math.Max(1, c.MaxSteps - c.WarmupSteps));
        return c.MinLearningRate + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (c.LearningRate - c.MinLearningRate);
    }
}
