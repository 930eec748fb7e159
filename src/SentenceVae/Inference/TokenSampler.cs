using TorchSharp;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace SentenceVae.Inference;

/// <summary>
/// Chooses the next token of each row from its logits: greedy, or temperature / top-k / top-p sampling
/// with a seeded generator, each row as its own <see cref="RowSampling"/> says and drawing from its own
/// generator — so a row samples the same tokens alone or in any batch. Sampling never sees inf or NaN: the check runs on what is sampled
/// (after the repetition controls), logits are shifted by their maximum before the temperature divides
/// them (any temperature above 0 is safe; a tiny one is greedy in effect), and a row whose logits are not
/// usable — NaN, +inf, or every token banned — or whose draw fails gets the id <see cref="Broken"/> (its
/// caller ends that row alone) while its batch-mates go on unchanged.
/// </summary>
public static class TokenSampler
{
    /// <summary>The id <c>Sample</c> gives a row whose logits are not finite (its caller ends that row alone).</summary>
    public const long Broken = -1;

    /// <summary>
    /// Ids of <paramref name="logits"/> chosen by <paramref name="choose"/> from the rows made finite; a row
    /// whose logits are not finite gets <see cref="Broken"/>. Such a row draws from zeros (its draws are its
    /// own, or the same count from a shared generator), so every other row samples exactly what it would have.
    /// </summary>
    private static Tensor Guarded(Tensor logits, Func<Tensor, Tensor> choose)
    {
        using var scope = NewDisposeScope();
        // Fill values as scalars held until the calls return: a scalar made implicitly can be finalized while
        // libtorch still reads it (seen under allocation pressure as a corrupt scalar in masked_fill).
        using Scalar zero = 0f.ToScalar(), brokenId = Broken.ToScalar();
        var broken = Unusable(logits);                                                          // (B)
        var ids = choose(logits.masked_fill(broken.unsqueeze(1), zero));
        return ids.masked_fill(broken, brokenId).MoveToOuterDisposeScope();
    }

    /// <summary>Rows (B) of logits (B, V) that cannot be sampled: a NaN or +inf, or −inf everywhere (−inf alone is a banned token).</summary>
    private static Tensor Unusable(Tensor logits) =>
        logits.isnan().any(-1).logical_or(logits.isposinf().any(-1)).logical_or(logits.isneginf().all(-1));

    /// <summary>
    /// Ids (n) of logits (n, V) whose row r is sampled as <paramref name="rows"/>[r] says, from its own
    /// generator (a decoding engine's rows); <see cref="Broken"/> for a row whose logits are not finite.
    /// </summary>
    public static Tensor Sample(Tensor logits, IReadOnlyList<RowSampling> rows)
    {
        if (logits.shape[0] != rows.Count) throw new ArgumentException($"{logits.shape[0]} rows of logits for {rows.Count} rows of options");
        using var scope = NewDisposeScope();
        if (!rows.Any(r => r.Penalizes) && rows.All(r => r.Options.Greedy) && logits.device.type == DeviceType.CPU && logits.dtype == ScalarType.Float32)
            return GreedyOnHost(logits.contiguous()).MoveToOuterDisposeScope();
        // The repetition controls first (on a copy, in place, row by row, only rows that ask; a row's bad logits
        // stay its own), then the check on exactly what is sampled.
        var penalized = rows.Any(r => r.Penalizes) ? logits.clone() : logits;
        for (int r = 0; r < rows.Count; r++)
            if (rows[r].Penalizes) rows[r].Penalize(penalized.narrow(0, r, 1));
        return Guarded(penalized, usable => SampleRows(usable, rows)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Greedy ids (n) of contiguous host logits (n, V) in one vectorised pass per row, read in place: the first
    /// largest logit (libtorch's argmax), or <see cref="Broken"/> where it is NaN (the first NaN wins the search),
    /// +inf, or −inf (every token banned) — what the libtorch path decides in a dozen calls (measured at OPT's
    /// 50,272 tokens: 0.35 ms for one row and 2.7 ms for eight there, 0.05 and 0.17 ms here).
    /// </summary>
    private static Tensor GreedyOnHost(Tensor logits)
    {
        int n = (int)logits.shape[0], vocabulary = (int)logits.shape[1];
        var values = MemoryMarshal.Cast<byte, float>(logits.bytes);
        var ids = new long[n];
        for (int r = 0; r < n; r++)
        {
            var row = values.Slice(r * vocabulary, vocabulary);
            int best = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row);
            ids[r] = float.IsFinite(row[best]) ? best : Broken;
        }
        return tensor(ids);
    }

    private static Tensor SampleRows(Tensor logits, IReadOnlyList<RowSampling> rows)
    {
        if (rows.All(o => o.Options.Greedy)) return logits.argmax(-1);
        return cat(Enumerable.Range(0, rows.Count).Select(r => rows[r].Options.Greedy ? logits.narrow(0, r, 1).argmax(-1)
            : SampleOrBroken(logits.narrow(0, r, 1), rows[r].Options, rows[r].Generator)).ToList(), 0);
    }

    /// <summary>One row's draw; a draw that fails (whatever libtorch refuses) is that row's <see cref="Broken"/>, never its batch's exception.</summary>
    private static Tensor SampleOrBroken(Tensor logits, GenerationOptions options, Generator? generator)
    {
        try { return Sample(logits, options, generator); }
        catch (ExternalException)
        {
            using Scalar brokenId = Broken.ToScalar();
            return full(1, brokenId, dtype: ScalarType.Int64, device: logits.device);
        }
    }

    private static Tensor Sample(Tensor logits, GenerationOptions options, Generator? generator)
    {
        if (options.Greedy) return logits.argmax(-1);
        using Scalar banned = float.NegativeInfinity.ToScalar();
        var shifted = logits.to(ScalarType.Float32);
        shifted = shifted - shifted.max(-1, keepdim: true).values;                       // ≤ 0, the best token at 0
        var scaled = shifted / options.Temperature;                                       // (B, V); −inf at worst, never NaN
        if (options.TopK > 0 && options.TopK < scaled.shape[1])
        {
            var kth = scaled.topk(options.TopK, dim: -1).values.narrow(1, options.TopK - 1, 1);   // (B, 1)
            scaled = scaled.masked_fill(scaled.lt(kth), banned);
        }
        if (options.TopP < 1.0)
        {
            var (sorted, order) = scaled.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            // Drop a token when the tokens before it already reach top_p (the first token always stays).
            var drop = (cumulative - sorted.softmax(-1)).gt(options.TopP);
            scaled = scaled.scatter(-1, order, sorted.masked_fill(drop, banned));
        }
        return scaled.softmax(-1).multinomial(1, generator: generator).squeeze(-1);       // (B)
    }

}

/// <summary>
/// How one row picks its tokens: its options, its own random generator (seeded when the options give a
/// seed), and what its repetition controls need — the row's text so far (<see cref="Start"/> with the
/// prompt, <see cref="Accept"/> each token written).
/// </summary>
public sealed class RowSampling : IDisposable
{
    private readonly List<int> text = [];                    // prompt and output, for repetition_penalty and no_repeat_ngram_size
    private readonly Dictionary<int, int> written = [];      // output counts, for frequency_penalty and presence_penalty

    /// <summary>Sampling for <paramref name="options"/>, drawing on <paramref name="device"/>.</summary>
    public RowSampling(GenerationOptions options, Device device)
    {
        Options = options.Validate();
        Generator = options.Seed is long seed && !options.Greedy ? new Generator((ulong)seed, device) : null;
    }

    /// <summary>Tokens the next choice may not be (e.g. a refused piece's first token); empty: none.</summary>
    public HashSet<int> Banned { get; } = [];

    /// <summary>The row's prompt (its tokens count for repetition_penalty and n-grams, not as output).</summary>
    public void Start(IEnumerable<int> prompt) => text.AddRange(prompt);

    /// <summary>A token the row wrote.</summary>
    public void Accept(int id)
    {
        text.Add(id);
        written[id] = written.GetValueOrDefault(id) + 1;
    }

    /// <summary>Takes back the last <paramref name="ids"/> accepted (a refused piece).</summary>
    public void Retract(IReadOnlyList<int> ids)
    {
        for (int i = ids.Count - 1; i >= 0; i--)
        {
            text.RemoveAt(text.Count - 1);
            if (--written[ids[i]] == 0) written.Remove(ids[i]);
        }
    }

    /// <summary>True when <see cref="Penalize"/> changes anything: a repetition control is on or a token is banned.</summary>
    public bool Penalizes => Options.Penalizes || Banned.Count > 0;

    /// <summary>Applies the repetition controls and bans to one row's logits (1, V), in place.</summary>
    public void Penalize(Tensor logits)
    {
        if (!Penalizes) return;
        var device = logits.device;
        using var scope = NewDisposeScope();
        long vocabulary = logits.shape[1];
        if (Options.RepetitionPenalty != 1.0 && text.Count > 0)
        {
            var seen = tensor(text.Where(t => t >= 0 && t < vocabulary).Distinct().Select(t => (long)t).ToArray(), device: device).unsqueeze(0);   // (1, K)
            var values = logits.gather(1, seen);
            float p = (float)Options.RepetitionPenalty;
            logits.scatter_(1, seen, where(values.gt(0), values / p, values * p));
        }
        if ((Options.FrequencyPenalty != 0 || Options.PresencePenalty != 0) && written.Count > 0)
        {
            var ids = written.Keys.Where(t => t >= 0 && t < vocabulary).ToArray();
            var shift = ids.Select(t => (float)(-Options.FrequencyPenalty * written[t] - Options.PresencePenalty)).ToArray();
            logits.scatter_add_(1, tensor(ids.Select(t => (long)t).ToArray(), device: device).unsqueeze(0), tensor(shift, device: device).unsqueeze(0));
        }
        var banned = new HashSet<int>(Banned);
        int n = Options.NoRepeatNgramSize;
        if (n > 0 && text.Count >= n)
        {
            // Every n-gram whose first n−1 tokens are the row's last n−1: its last token is banned.
            var tail = text.Skip(text.Count - (n - 1)).ToArray();
            for (int i = 0; i + n <= text.Count; i++)
            {
                bool match = true;
                for (int j = 0; j < n - 1 && match; j++) match = text[i + j] == tail[j];
                if (match) banned.Add(text[i + n - 1]);
            }
        }
        banned.RemoveWhere(t => t < 0 || t >= vocabulary);
        if (banned.Count > 0 && banned.Count < vocabulary)                     // never every token
            logits.index_fill_(1, tensor(banned.Select(t => (long)t).ToArray(), device: device), float.NegativeInfinity);
    }

    /// <summary>Temperature, top-k, top-p, seed.</summary>
    public GenerationOptions Options { get; }
    /// <summary>The row's own generator; null: the global one (no seed) or none (greedy).</summary>
    public Generator? Generator { get; }

    /// <summary>Frees the generator.</summary>
    public void Dispose() => Generator?.Dispose();
}
