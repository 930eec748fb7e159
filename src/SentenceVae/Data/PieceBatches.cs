namespace SentenceVae.Data;

/// <summary>
/// Batches of pieces for SentenceVAE training, bucketed by length so little padding is computed. The
/// order of epoch e is a pure function of (seed, e): a run resumed at (epoch, index) sees exactly the
/// batches an uninterrupted run would.
/// </summary>
/// <remarks>
/// With <c>randomSpans</c> &gt; 0 each epoch also holds that many (as a fraction of the pieces) random
/// token spans of the training text, cut anywhere, each as long as a randomly drawn real piece. An
/// autoencoder should copy any token sequence, not only the pieces it has seen; fresh spans every epoch
/// work against memorising the training pieces, though they do not stop it (README: "Training the
/// SentenceVAE"). Set by <c>random_spans</c> in TrainConfig.
/// </remarks>
internal sealed class PieceBatches
{
    private const int PoolBatches = 50;      // pieces are sorted by length within pools of 50 batches
    private readonly IReadOnlyList<int[]> pieces;
    private readonly int[] stream;           // every piece's tokens, in corpus order
    private readonly int batchSize, seed, spansPerEpoch;

    public PieceBatches(IReadOnlyList<int[]> pieces, int batchSize, int seed, double randomSpans = 0)
    {
        if (pieces.Count == 0) throw new ArgumentException("no pieces to train on");
        if (randomSpans < 0) throw new ArgumentOutOfRangeException(nameof(randomSpans), "must be ≥ 0");
        this.pieces = pieces;
        this.batchSize = batchSize;
        this.seed = seed;
        spansPerEpoch = (int)Math.Round(randomSpans * pieces.Count);
        stream = spansPerEpoch > 0 ? pieces.SelectMany(p => p).ToArray() : [];
    }

    public int BatchesPerEpoch => (pieces.Count + spansPerEpoch + batchSize - 1) / batchSize;

    /// <summary>Every batch of an epoch, as lists of pieces.</summary>
    public List<List<int[]>> Epoch(int epoch)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + epoch));
        var all = spansPerEpoch == 0 ? pieces : pieces.Concat(RandomSpans(rng)).ToList();
        var order = Enumerable.Range(0, all.Count).ToArray();
        rng.Shuffle(order);
        var batches = new List<List<int[]>>();
        foreach (var pool in order.Chunk(batchSize * PoolBatches))
            foreach (var batch in pool.OrderBy(i => all[i].Length).ThenBy(i => i).Chunk(batchSize))
                batches.Add(batch.Select(i => all[i]).ToList());
        var shuffled = batches.ToArray();
        rng.Shuffle(shuffled);
        return shuffled.ToList();
    }

    private IEnumerable<int[]> RandomSpans(Random rng)
    {
        for (int i = 0; i < spansPerEpoch; i++)
        {
            int length = Math.Max(1, Math.Min(pieces[rng.Next(pieces.Count)].Length, stream.Length));
            int start = rng.Next(stream.Length - length + 1);
            yield return stream[start..(start + length)];
        }
    }
}
