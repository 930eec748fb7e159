namespace SentenceVae.Training;

/// <summary>
/// Linear warmup from 0 to the peak, then cosine decay to the minimum. The decay follows whichever
/// budget runs out first: steps (max_steps) or training time (max_minutes), so a time-limited run ends
/// its schedule inside its minutes.
/// </summary>
public static class LearningRateSchedule
{
    /// <param name="step">steps done</param>
    /// <param name="elapsedSeconds">training time so far, over all sessions of the run</param>
    /// <param name="c">the run's schedule settings</param>
    public static double At(int step, double elapsedSeconds, TrainConfig c)
    {
        if (step < c.WarmupSteps) return c.LearningRate * (step + 1) / c.WarmupSteps;
        double progress = (double)(step - c.WarmupSteps) / Math.Max(1, c.MaxSteps - c.WarmupSteps);
        if (c.MaxMinutes > 0) progress = Math.Max(progress, elapsedSeconds / (c.MaxMinutes * 60));
        progress = Math.Min(1.0, progress);
        return c.MinLearningRate + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (c.LearningRate - c.MinLearningRate);
    }
}
