using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>Teacher-forced outputs of a SentenceVAE batch.</summary>
/// <param name="SentenceVectors">(B, 1, C)</param>
/// <param name="Logits">(B, T, V)</param>
/// <param name="TargetIds">(B, T+1): the input shifted in, EOS written at each row's length, PAD after</param>
/// <param name="FocalLoss">focal loss (γ 2) over real positions</param>
/// <param name="CrossEntropy">cross entropy over the same positions</param>
public sealed record SentenceVaeOutput(Tensor SentenceVectors, Tensor Logits, Tensor TargetIds, Tensor FocalLoss, Tensor CrossEntropy);

/// <summary>
/// SentenceVAE: <c>encoder</c> (tokens → one vector) and <c>decoder</c> (vector → tokens). Field names
/// reproduce the reference state-dict keys (<c>encoder.embed_token.weight</c>, <c>decoder.linear.weight</c>, …).
/// </summary>
public sealed class SentenceVaeModel : nn.Module
{
    private readonly SentenceEncoder encoder;
    private readonly SentenceDecoder decoder;

    /// <summary>A SentenceVAE of <paramref name="config"/>'s shape, its embeddings tied when the config says so.</summary>
    public SentenceVaeModel(SentenceVaeConfig config) : base("SentenceVae")
    {
        Config = config.Validate();
        encoder = new SentenceEncoder(config);
        decoder = new SentenceDecoder(config);
        RegisterComponents();
        if (config.TieWordEmbeddings) TieWeights();
    }

    /// <summary>
    /// The encoder's embedding and the decoder's embedding and output layer become one Parameter,
    /// initialised N(0, 1/hidden) so that the output layer's first logits have unit scale.
    /// </summary>
    public void TieWeights()
    {
        var weight = encoder.EmbedToken.weight!;
        using (no_grad()) weight.normal_(0, 1 / Math.Sqrt(Config.HiddenSize));
        decoder.EmbedToken.weight = weight;
        decoder.TieOutput(weight);
    }

    /// <summary>The model's shape.</summary>
    public SentenceVaeConfig Config { get; }
    /// <summary>The Sentence Encoder (tokens → vector).</summary>
    public SentenceEncoder Encoder => encoder;
    /// <summary>The Sentence Decoder (vector → tokens).</summary>
    public SentenceDecoder Decoder => decoder;

    /// <param name="inputIds">(B, T) BOS + piece tokens, right-padded with PAD</param>
    /// <param name="attentionMask">(B, T) 1 real / 0 padding</param>
    /// <param name="focalGamma">γ of the focal loss in the output</param>
    public SentenceVaeOutput forward(Tensor inputIds, Tensor attentionMask, double focalGamma = 2.0)
    {
        var vectors = encoder.forward(inputIds, attentionMask);                      // (B, 1, C)
        var logits = decoder.forward(inputIds, vectors, attentionMask);              // (B, T, V)
        var targets = TargetIds(inputIds, attentionMask);                            // (B, T+1)
        var real = attentionMask.to(ScalarType.Bool);                                // (B, T)
        var flatLogits = logits[real];                                               // (N, V)
        var flatTargets = targets.narrow(1, 1, inputIds.shape[1])[real];             // (N)
        return new SentenceVaeOutput(vectors, logits, targets,
            Losses.Focal(flatLogits, flatTargets, focalGamma), Losses.CrossEntropy(flatLogits, flatTargets));
    }

    /// <summary>The decoder's targets: inputs with a PAD column appended and EOS written at each row's length.</summary>
    public Tensor TargetIds(Tensor inputIds, Tensor attentionMask)
    {
        var pad = full(inputIds.shape[0], 1, Config.PadId, dtype: inputIds.dtype, device: inputIds.device);
        var lengths = attentionMask.to(ScalarType.Int64).sum(dim: 1, keepdim: true);  // (B, 1)
        return cat([inputIds, pad], 1).scatter(1, lengths, full_like(lengths, Config.EosId, dtype: inputIds.dtype));
    }
}
