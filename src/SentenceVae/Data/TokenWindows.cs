namespace SentenceVae.Data;

/// <summary>
/// Training windows for a token-level LM: the documents as one stream (each BOS + tokens + EOS), cut
/// into windows of seq_len+1 tokens (inputs and next-token targets). Each epoch starts at a different
/// offset and visits windows in a different order, both pure functions of (seed, epoch).
/// </summary>
internal sealed class TokenWindows
{
    private readonly int[] stream;
    private readonly int seqLen, batchSize, seed;

    public TokenWindows(IEnumerable<int[]> documents, int bos, int eos, int seqLen, int batchSize, int seed)
    {
        stream = documents.SelectMany(d => d.Prepend(bos).Append(eos)).ToArray();
        if (stream.Length < seqLen + 1 + seqLen) throw new ArgumentException($"corpus of {stream.Length} tokens is too short for windows of {seqLen}");
        this.seqLen = seqLen;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    public long Tokens => stream.Length;
    private int WindowsPerEpoch => (stream.Length - 1 - seqLen) / seqLen;
    public int BatchesPerEpoch => WindowsPerEpoch / batchSize;

    /// <summary>The batches of an epoch: each a list of windows of seq_len+1 token ids.</summary>
    public List<List<int[]>> Epoch(int epoch)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + epoch));
        int offset = rng.Next(seqLen);
        var starts = Enumerable.Range(0, WindowsPerEpoch).Select(w => offset + w * seqLen).ToArray();
        rng.Shuffle(starts);
        return starts.Take(BatchesPerEpoch * batchSize).Chunk(batchSize)
            .Select(batch => batch.Select(s => stream[s..(s + seqLen + 1)]).ToList()).ToList();
    }
}
