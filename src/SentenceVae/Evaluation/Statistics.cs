namespace SentenceVae.Evaluation;

/// <summary>Small summaries for benchmarks and reports.</summary>
public static class Statistics
{
    /// <summary>The median (mean of the middle two for an even count); benchmarks report it because this machine is shared and noisy.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(values));
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
