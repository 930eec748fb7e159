namespace SentenceVae.Inference;

/// <summary>Rows run to their end in an engine: the one loop the generators, the benchmarks and the tools share.</summary>
public static class EngineRuns
{
    /// <summary>What a caller throws for a row whose probabilities stopped being finite.</summary>
    public static InvalidDataException FailedRow() => new("the model's next-token probabilities were not finite (NaN or inf); are its weights damaged?");

    /// <summary>
    /// Admits <paramref name="rows"/> into <paramref name="engine"/> (all at once) and steps it until every
    /// one has ended, yielding each step's events (ends reported by a row's admission come with the first
    /// step, or in a last list of their own). <paramref name="own"/>: dispose the engine afterwards.
    /// </summary>
    public static IEnumerable<List<DecodeEvent>> ToEnd(IDecodeEngine engine, IEnumerable<DecodeRow> rows, bool own = true)
    {
        try
        {
            foreach (var row in rows) engine.Add(row);
            while (engine.Count > 0) yield return engine.Step();
            var rest = engine.Step();
            if (rest.Count > 0) yield return rest;
        }
        finally
        {
            if (own) engine.Dispose();
        }
    }

    /// <summary>What each row wrote (its tokens or pieces, in order); a row whose probabilities stopped being finite throws <see cref="FailedRow"/>.</summary>
    public static List<List<int[]>> Written(IEnumerable<List<DecodeEvent>> steps, IReadOnlyList<DecodeRow> rows)
    {
        var written = rows.ToDictionary(r => r, _ => new List<int[]>());
        foreach (var e in steps.SelectMany(s => s))
            if (e.End == DecodeEnd.Failed) throw FailedRow();
            else if (e.End is null) written[e.Row].Add(e.Ids);
        return rows.Select(r => written[r]).ToList();
    }
}
