namespace SentenceVae.Data;

/// <summary>
/// Batches of pieces for SentenceVAE training, bucketed by length so little padding is computed. The
/// order of epoch e is a pure function of (seed, e): a run resumed at (epoch, index) sees exactly the
/// batches an uninterrupted run would.
/// </summary>
public sealed class PieceBatches
{
    private const int PoolBatches = 50;      // pieces are sorted by length within pools of 50 batches
    private readonly IReadOnlyList<int[]> pieces;
    private readonly int batchSize, seed;

    public PieceBatches(IReadOnlyList<int[]> pieces, int batchSize, int seed)
    {
        if (pieces.Count == 0) throw new ArgumentException("no pieces to train on");
        this.pieces = pieces;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    public int BatchesPerEpoch => (pieces.Count + batchSize - 1) / batchSize;

    /// <summary>Every batch of an epoch, as lists of pieces.</summary>
    public List<List<int[]>> Epoch(int epoch)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + epoch));
        var order = Enumerable.Range(0, pieces.Count).ToArray();
        rng.Shuffle(order);
        var batches = new List<List<int[]>>();
        foreach (var pool in order.Chunk(batchSize * PoolBatches))
            foreach (var batch in pool.OrderBy(i => pieces[i].Length).ThenBy(i => i).Chunk(batchSize))
                batches.Add(batch.Select(i => pieces[i]).ToList());
        var shuffled = batches.ToArray();
        rng.Shuffle(shuffled);
        return shuffled.ToList();
    }
}
