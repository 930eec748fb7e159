namespace SentenceVae.Modules;

/// <summary>
/// Sizes checked before anything is allocated: each dimension within a sane cap, and the parameters (and,
/// for training, their gradients, Adam's two moments and the activations of one step) within the memory
/// this machine has — so an absurd config is one line naming the key, not libtorch failing to allocate a
/// terabyte.
/// </summary>
public static class ModelSizes
{
    /// <summary>Caps on single dimensions (far above any model this library trains or loads).</summary>
    public const int MaxPositions = 1 << 16, MaxWidth = 1 << 15, MaxVocabulary = 1 << 21, MaxLayers = 1 << 10, MaxFfn = 1 << 17;

    /// <summary>Problems with the dimensions (name = value beyond its cap).</summary>
    public static IEnumerable<string> CapProblems(params (string Name, long Value, long Cap)[] dims) =>
        dims.Where(d => d.Value > d.Cap).Select(d => $"{d.Name} {d.Value:N0} exceeds {d.Cap:N0}");

    /// <summary>Parameters of an OPT decoder with its head (tied or not).</summary>
    public static double Parameters(OptConfig c)
    {
        double h = c.HiddenSize, e = c.EmbedDim, layer = 4.0 * h * h + 2.0 * h * c.FfnDim + 9.0 * h + c.FfnDim;
        return c.VocabSize * e * (c.TieWordEmbeddings ? 1 : 2) + (c.MaxPositionEmbeddings + 2.0) * h + c.NumHiddenLayers * layer + (e != h ? 2 * e * h : 0) + 2 * h;
    }

    /// <summary>Parameters of a SentenceVAE (encoder, decoder with cross-attention, embeddings and head).</summary>
    public static double Parameters(SentenceVaeConfig c)
    {
        double h = c.HiddenSize, e = c.EmbedDim, ffn = c.Ffn;
        double encoder = c.NumHiddenLayers * (4 * h * h + 2 * h * ffn), decoder = c.NumDecoderLayers * (8 * h * h + 2 * h * ffn);
        return c.VocabSize * e * (c.TieWordEmbeddings ? 1 : 3) + encoder + decoder + (e != h ? 4 * e * h : 0);
    }

    /// <summary>Parameters of a sentence-level LLM (its SentenceVAE, backbone layers and the projections between the widths).</summary>
    public static double Parameters(SentenceLlmConfig c) =>
        Parameters(c.Svae) + Parameters(c.Backbone) - c.Backbone.VocabSize * (double)c.Backbone.EmbedDim * (c.Backbone.TieWordEmbeddings ? 1 : 2)
        + 2.0 * c.Svae.HiddenSize * c.Backbone.HiddenSize * Math.Max(1, c.MemoryVectors);

    /// <summary>Bytes of memory this process may use (what the runtime reports as available).</summary>
    public static long AvailableBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>One line when <paramref name="bytes"/> exceeds half the machine's memory, else null.</summary>
    public static string? MemoryProblem(string what, double bytes) =>
        bytes > AvailableBytes / 2.0 ? $"{what} would need about {bytes / (1L << 30):N1} GiB, more than half of this machine's {AvailableBytes / (double)(1L << 30):N1} GiB" : null;
}
