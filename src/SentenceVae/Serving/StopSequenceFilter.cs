namespace SentenceVae.Serving;

/// <summary>
/// Streams text while watching for stop sequences: text that could be the start of one is held back until
/// the next text shows whether it is; the first stop found ends the output just before it.
/// </summary>
internal sealed class StopSequenceFilter(IReadOnlyList<string> stops)
{
    private string held = "";

    /// <summary>The text that is safe to show now, and whether a stop sequence was found.</summary>
    public (string Text, bool Stopped) Push(string text)
    {
        if (stops.Count == 0) return (text, false);
        string all = held + text;
        int at = stops.Select(s => all.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        if (at >= 0)
        {
            held = "";
            return (all[..at], true);
        }
        int keep = 0;
        foreach (var stop in stops)
            for (int n = Math.Min(stop.Length - 1, all.Length); n > keep; n--)
                if (all.AsSpan(all.Length - n).SequenceEqual(stop.AsSpan(0, n))) { keep = n; break; }
        held = all[(all.Length - keep)..];
        return (all[..(all.Length - keep)], false);
    }

    /// <summary>The text held back (the output ended for another reason).</summary>
    public string Flush()
    {
        string text = held;
        held = "";
        return text;
    }
}
