using TorchSharp.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Modules;

/// <summary>
/// The paper's Sentence Decoder: writes a piece's tokens from its sentence vector. Token embedding
/// [→ project_in] + sinusoidal positions → post-norm decoder layers (causal self-attention,
/// cross-attention to the vector) → <c>linear</c> to the vocabulary.
/// </summary>
public sealed class SentenceDecoder : nn.Module
{
    private readonly SentenceVaeConfig config;
    private readonly Embedding embed_token;
    private readonly Linear? project_in;
    private readonly LayerStack<SentenceDecoderLayer> decoder;
    private readonly Linear linear;

    /// <summary>A Sentence Decoder of <paramref name="config"/>'s shape (PyTorch default initialisation).</summary>
    public SentenceDecoder(SentenceVaeConfig config) : base(nameof(SentenceDecoder))
    {
        this.config = config.Validate();
        embed_token = nn.Embedding(config.VocabSize, config.EmbedDim, padding_idx: config.PadId);
        if (config.EmbedDim != config.HiddenSize) project_in = nn.Linear(config.EmbedDim, config.HiddenSize, hasBias: false);
        decoder = new LayerStack<SentenceDecoderLayer>(Enumerable.Range(0, config.NumDecoderLayers).Select(_ => new SentenceDecoderLayer(config)));
        linear = nn.Linear(config.HiddenSize, config.VocabSize);
        RegisterComponents();
    }

    /// <summary>The token embedding (embed_token).</summary>
    public Embedding EmbedToken => embed_token;

    /// <summary>The output layer's weight takes the given one (tied embeddings: one Parameter, several names).</summary>
    public void TieOutput(Parameter weight) => linear.weight = weight;

    /// <summary>Teacher-forced logits.</summary>
    /// <param name="inputIds">(B, T) BOS + piece tokens, right-padded</param>
    /// <param name="memory">(B, M, C) what the decoder cross-attends to: the sentence vector (M = 1) or several vectors and states</param>
    /// <param name="attentionMask">(B, T) 1 real / 0 padding</param>
    /// <param name="memoryMask">(B, M) 1 real / 0 padding; null: all of the memory is real</param>
    /// <returns>(B, T, V): position i predicts token i+1 (EOS after the last)</returns>
    public Tensor forward(Tensor inputIds, Tensor memory, Tensor attentionMask, Tensor? memoryMask = null) =>
        Logits(Hidden(inputIds, memory, attentionMask, memoryMask));                       // (B, T, V)

    /// <summary>The last layer's outputs (B, T, C) of <see cref="forward"/>, before the vocabulary projection.</summary>
    public Tensor Hidden(Tensor inputIds, Tensor memory, Tensor attentionMask, Tensor? memoryMask = null)
    {
        var x = Embed(inputIds, 0);                                                       // (B, T, C)
        using var mask = AttentionMasks.CausalPadding(attentionMask, 0, inputIds.shape[1], x.dtype);   // (B, 1, T, T)
        using var crossMask = memoryMask is null ? null : AttentionMasks.Padding(memoryMask, x.dtype);  // (B, 1, 1, M)
        for (int i = 0; i < decoder.Count; i++) x = decoder[i].forward(x, mask, decoder[i].MemoryKeysValues(memory), crossMask, null, i);
        return x;                                                                         // (B, T, C)
    }

    /// <summary>Vocabulary logits (…, V) of decoder outputs (…, C): score only the positions you need.</summary>
    public Tensor Logits(Tensor hidden) => linear.forward(hidden);

    /// <summary>A cache for decoding from the given memory (B, M, C) [with its (B, M) mask] step by step.</summary>
    public SentenceDecoderCache NewCache(Tensor memory, Tensor? memoryMask = null) =>
        new(Enumerable.Range(0, decoder.Count).Select(i => decoder[i].MemoryKeysValues(memory)).ToList(),
            memoryMask is null ? null : AttentionMasks.Padding(memoryMask, memory.dtype));

    /// <summary>One cached step: the next token of every row (B, 1) → logits (B, V) [through a loop's <paramref name="head"/>].</summary>
    public Tensor Step(Tensor inputIds, SentenceDecoderCache cache, DecodingHead? head = null)
    {
        var x = Embed(inputIds, cache.Length);                                            // (B, 1, C)
        for (int i = 0; i < decoder.Count; i++) x = decoder[i].forward(x, null, cache.Memory[i], cache.MemoryMask, cache.Self, i);
        return (head?.Logits(x) ?? linear.forward(x)).squeeze(1);                        // (B, V)
    }

    /// <summary>Each layer's cross-attention keys/values (n, nh, M, hs) of memories (n, M, C), for a decoding engine to keep in its slots.</summary>
    public List<(Tensor Key, Tensor Value)> MemoryKeysValues(Tensor memory, IProjection? projection = null) =>
        Enumerable.Range(0, decoder.Count).Select(i => decoder[i].MemoryKeysValues(memory, projection)).ToList();

    /// <summary>The position encodings of every position a piece can hold (max_seq_len, C), for an engine step.</summary>
    public Tensor PositionTable(Device device) => SinusoidalPositions.Encode(0, config.MaxSeqLen, config.HiddenSize, ScalarType.Float32, device);

    /// <summary>Layers.</summary>
    public int NumLayers => decoder.Count;

    /// <summary>
    /// One token (n, 1) for each row of a decoding engine, each at its own position within its piece, each
    /// reading its own memory: logits (n, V) through the engine's <paramref name="head"/>.
    /// </summary>
    /// <param name="inputIds">(n, 1) each row's last token (BOS at a piece's start)</param>
    /// <param name="memory">per layer, the rows' memory keys/values (n, nh, M, hs)</param>
    /// <param name="memoryMask">additive (n, 1, 1, M), or null when all of it is real</param>
    /// <param name="step">the rows' self-attention past (positions within their pieces)</param>
    /// <param name="positions">the position encodings of a piece's positions (max_seq_len, C), made once by the engine (<see cref="PositionTable"/>)</param>
    /// <param name="head">the vocabulary projection</param>
    public Tensor Step(Tensor inputIds, IReadOnlyList<(Tensor Key, Tensor Value)> memory, Tensor? memoryMask, SlotKvCache.SlotStep step, Tensor positions, DecodingHead head)
    {
        var x = embed_token.forward(inputIds);                                            // (n, 1, E)
        if (config.EmbedScale != 1.0) x = x * config.EmbedScale;
        if (project_in is not null) x = project_in.forward(x);                            // (n, 1, C)
        x = x + positions.index_select(0, step.Positions).unsqueeze(1);                   // each row at its own position
        float[]? mask = null;
        if (DecodeKernels.Layers(decoder.Count, i => decoder[i], x, step, (l, format, threads) => l.Kernel(format, threads),
                (k, h, rows, i) => k.Step(h, rows, step, i, memory[i], mask ??= memoryMask?.contiguous().data<float>().ToArray())) is { } byKernels)
            x = byKernels;                                                                // a step routed through kernels
        else
            for (int i = 0; i < decoder.Count; i++) x = decoder[i].forward(x, step.Attention, memory[i], memoryMask, step, i);
        return head.Logits(x).squeeze(1);                                                 // (n, V)
    }

    /// <summary>The vocabulary projection as a decoding loop's <see cref="DecodingHead"/> (a transposed copy of the weights).</summary>
    public DecodingHead NewDecodingHead() => new(linear.weight!, linear.bias);

    private Tensor Embed(Tensor inputIds, int start)
    {
        var x = embed_token.forward(inputIds);                                            // (B, T, E)
        if (config.EmbedScale != 1.0) x = x * config.EmbedScale;              // tied: unit-scale logits, √C-scale inputs (as the Transformer)
        if (project_in is not null) x = project_in.forward(x);                            // (B, T, C)
        return x + SinusoidalPositions.Encode(start, inputIds.shape[1], config.HiddenSize, x.dtype, x.device);
    }
}
