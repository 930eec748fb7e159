using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// The paper's Sentence Encoder: a piece's tokens → ONE vector. Token embedding [→ project_in] +
/// sinusoidal positions → post-norm transformer layers → padded positions zeroed → sum (or sum
/// weighted by the learned <c>la</c>) → <c>lnorm</c>.
/// </summary>
public sealed class SentenceEncoder : nn.Module
{
    private readonly SentenceVaeConfig config;
    private readonly Embedding embed_token;
    private readonly Linear? project_in;
    private readonly LayerStack<SentenceEncoderLayer> encoder;
    private readonly Linear? la;
    private readonly LayerNorm lnorm;

    /// <summary>A Sentence Encoder of <paramref name="config"/>'s shape (PyTorch default initialisation).</summary>
    public SentenceEncoder(SentenceVaeConfig config) : base(nameof(SentenceEncoder))
    {
        this.config = config.Validate();
        embed_token = nn.Embedding(config.VocabSize, config.EmbedDim, padding_idx: config.PadId);
        if (config.EmbedDim != config.HiddenSize) project_in = nn.Linear(config.EmbedDim, config.HiddenSize, hasBias: false);
        encoder = new LayerStack<SentenceEncoderLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new SentenceEncoderLayer(config)));
        if (config.LearnableAdd) la = nn.Linear(config.HiddenSize, 1);
        lnorm = nn.LayerNorm(config.HiddenSize);
        RegisterComponents();
    }

    /// <summary>The token embedding (embed_token).</summary>
    public Embedding EmbedToken => embed_token;

    /// <param name="inputIds">(B, T) piece tokens, BOS first, right-padded</param>
    /// <param name="attentionMask">(B, T) 1 real / 0 padding</param>
    /// <returns>sentence vectors (B, 1, C)</returns>
    public Tensor forward(Tensor inputIds, Tensor attentionMask) => Encode(inputIds, attentionMask).Vectors;

    /// <summary>The sentence vectors (B, 1, C) and the token states they are pooled from (B, T, C), padded positions 0.</summary>
    public (Tensor Vectors, Tensor States) Encode(Tensor inputIds, Tensor attentionMask, IProjection? projection = null)
    {
        long t = inputIds.shape[1];
        var x = embed_token.forward(inputIds);                                          // (B, T, E)
        if (config.EmbedScale != 1.0) x = x * config.EmbedScale;            // tied: unit-scale logits, √C-scale inputs (as the Transformer)
        if (project_in is not null) x = project_in.forward(x);                          // (B, T, C)
        x = x + SinusoidalPositions.Encode(0, t, config.HiddenSize, x.dtype, x.device); // (B, T, C)

        using var mask = AttentionMasks.Padding(attentionMask, x.dtype);               // (B, 1, 1, T)
        for (int i = 0; i < encoder.Count; i++) x = encoder[i].forward(x, mask, projection);

        x = x * attentionMask.unsqueeze(-1).to(x.dtype);                                // padded positions → 0
        var pooled = la is null
            ? x.sum(dim: 1, keepdim: true)                                              // (B, 1, C)
            : (x * la.forward(x)).sum(dim: 1, keepdim: true);                           // weights (B, T, 1)
        return (lnorm.forward(pooled), x);                                              // (B, 1, C), (B, T, C)
    }
}
