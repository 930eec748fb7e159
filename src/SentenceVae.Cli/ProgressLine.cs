using System.Diagnostics;

namespace SentenceVae.Cli;

/// <summary>
/// Progress of a long command on stderr: one line rewritten in place on a terminal (percentage, amount
/// done, time left), a line per tenth otherwise; nothing when quiet (e.g. with --json).
/// </summary>
internal sealed class ProgressLine(TextWriter error, string what, double total, string unit, bool quiet) : IDisposable
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly bool terminal = !Console.IsErrorRedirected && ReferenceEquals(error, Console.Error);
    private TimeSpan shown = TimeSpan.MinValue;
    private int tenths = -1;
    private bool wrote;

    /// <summary>Reports <paramref name="done"/> of the total (at most a few times a second on a terminal).</summary>
    public void Report(double done)
    {
        if (quiet || total <= 0) return;
        double fraction = Math.Clamp(done / total, 0, 1);
        var elapsed = clock.Elapsed;
        string left = fraction > 0.01 ? TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - fraction) / fraction).ToString(@"h\:mm\:ss") : "?";
        string line = $"{what}: {fraction,4:P0} ({done:N0} of {total:N0} {unit}), {elapsed:h\\:mm\\:ss} so far, {left} left";
        if (terminal)
        {
            if (elapsed - shown < TimeSpan.FromMilliseconds(250) && fraction < 1) return;
            shown = elapsed;
            error.Write("\r" + line.PadRight(Math.Min(Console.BufferWidth - 1, 110)));
            wrote = true;
        }
        else if ((int)(fraction * 10) > tenths)
        {
            tenths = (int)(fraction * 10);
            error.WriteLine(line);
        }
    }

    /// <summary>Ends the line on a terminal.</summary>
    public void Dispose()
    {
        if (wrote) error.WriteLine();
    }

    /// <summary>The items of <paramref name="items"/> as they are taken, reporting the running sum of <paramref name="size"/>.</summary>
    public IEnumerable<T> Track<T>(IEnumerable<T> items, Func<T, double> size)
    {
        double done = 0;
        foreach (var item in items)
        {
            Report(done);
            yield return item;
            done += size(item);
        }
        Report(done);
    }
}
