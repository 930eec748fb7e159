using static TorchSharp.torch;

namespace SentenceVae.Inference;

/// <summary>
/// Chooses the next token of each row from its logits: greedy, or temperature / top-k / top-p sampling
/// with a seeded generator. Built from one <see cref="GenerationOptions"/> shared by every row, or from
/// one per row (a served batch), each row then drawing from its own generator — so a row samples the
/// same tokens alone or in any batch.
/// </summary>
public sealed class TokenSampler : IDisposable
{
    private readonly GenerationOptions[] rows;          // one entry: shared by every row
    private readonly Generator?[] generators;

    /// <summary>A sampler for <paramref name="options"/> whose random numbers come from a generator on <paramref name="device"/> (seeded when options give a seed).</summary>
    public TokenSampler(GenerationOptions options, Device device) : this([options], device) { }

    /// <summary>A sampler with options of its own for each row (row r of the logits uses <paramref name="rowOptions"/>[r]).</summary>
    public TokenSampler(IReadOnlyList<GenerationOptions> rowOptions, Device device)
    {
        if (rowOptions.Count == 0) throw new ArgumentException("no options", nameof(rowOptions));
        rows = rowOptions.Select(o => o.Validate()).ToArray();
        generators = rows.Select(o => o.Seed is long seed && !o.Greedy ? new Generator((ulong)seed, device) : null).ToArray();
    }

    /// <param name="logits">(B, V)</param>
    /// <param name="finished">with options per row: rows whose output is already complete take the argmax
    /// without drawing, so a row's random stream advances only while it writes (as when it runs alone)</param>
    /// <returns>(B) token ids</returns>
    public Tensor Sample(Tensor logits, IReadOnlyList<bool>? finished = null)
    {
        if (rows.Length == 1) return Sample(logits, rows[0], generators[0]);
        if (logits.shape[0] != rows.Length) throw new ArgumentException($"{logits.shape[0]} rows of logits for {rows.Length} rows of options");
        if (rows.All(o => o.Greedy)) return logits.argmax(-1);
        return cat(Enumerable.Range(0, rows.Length).Select(r => finished?[r] == true ? logits.narrow(0, r, 1).argmax(-1)
            : Sample(logits.narrow(0, r, 1), rows[r], generators[r])).ToList(), 0);
    }

    private static Tensor Sample(Tensor logits, GenerationOptions options, Generator? generator)
    {
        if (options.Greedy) return logits.argmax(-1);
        var scaled = logits.to(ScalarType.Float32) / options.Temperature;          // (B, V)
        if (options.TopK > 0 && options.TopK < scaled.shape[1])
        {
            var kth = scaled.topk(options.TopK, dim: -1).values.narrow(1, options.TopK - 1, 1);   // (B, 1)
            scaled = scaled.masked_fill(scaled.lt(kth), float.NegativeInfinity);
        }
        if (options.TopP < 1.0)
        {
            var (sorted, order) = scaled.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            // Drop a token when the tokens before it already reach top_p (the first token always stays).
            var drop = (cumulative - sorted.softmax(-1)).gt(options.TopP);
            scaled = scaled.scatter(-1, order, sorted.masked_fill(drop, float.NegativeInfinity));
        }
        return scaled.softmax(-1).multinomial(1, generator: generator).squeeze(-1);       // (B)
    }

    /// <summary>Frees the random generators.</summary>
    public void Dispose()
    {
        foreach (var g in generators) g?.Dispose();
    }
}
