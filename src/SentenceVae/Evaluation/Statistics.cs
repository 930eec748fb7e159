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

    /// <summary>
    /// Which of the points (speed, higher is better; loss, lower is better) are on their Pareto front: no
    /// other point is at least as fast and at least as good and better in one. Returns one flag per point.
    /// </summary>
    public static bool[] ParetoFront(IReadOnlyList<(double Speed, double Loss)> points) =>
        points.Select(p => !points.Any(q => q.Speed >= p.Speed && q.Loss <= p.Loss && (q.Speed > p.Speed || q.Loss < p.Loss))).ToArray();
}
