namespace SentenceVae.Data;

/// <summary>A run of consecutive pieces of one document, and whether it starts / ends the document.</summary>
internal sealed record PieceWindow(IReadOnlyList<int[]> Pieces, bool StartsDocument, bool EndsDocument);

/// <summary>
/// Training windows for a sentence-level LLM: each document's pieces cut into windows of at most N
/// pieces. Each epoch visits the windows in an order that is a pure function of (seed, epoch).
/// </summary>
internal sealed class PieceWindows
{
    private readonly List<PieceWindow> windows = new();
    private readonly int batchSize, seed;

    public PieceWindows(IEnumerable<IReadOnlyList<int[]>> documents, int maxPieces, int batchSize, int seed)
    {
        foreach (var doc in documents)
            for (int start = 0; start < doc.Count; start += maxPieces)
            {
                int end = Math.Min(doc.Count, start + maxPieces);
                windows.Add(new PieceWindow(doc.Skip(start).Take(end - start).ToList(), start == 0, end == doc.Count));
            }
        if (windows.Count == 0) throw new ArgumentException("no pieces to train on");
        this.batchSize = batchSize;
        this.seed = seed;
    }

    public int BatchesPerEpoch => (windows.Count + batchSize - 1) / batchSize;

    public List<List<PieceWindow>> Epoch(int epoch)
    {
        var order = windows.ToArray();
        new Random(unchecked(seed * 1_000_003 + epoch)).Shuffle(order);
        return order.Chunk(batchSize).Select(c => c.ToList()).ToList();
    }
}
