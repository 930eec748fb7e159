using TorchSharp.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Modules;

/// <summary>
/// PyTorch's post-norm nn.TransformerDecoderLayer (ReLU): causal self-attention, cross-attention to the
/// sentence vector, FFN — each followed by its residual and norm.
/// </summary>
internal sealed class SentenceDecoderLayer : nn.Module
{
    private readonly FusedMultiheadAttention self_attn, multihead_attn;
    private readonly Linear linear1, linear2;
    private readonly LayerNorm norm1, norm2, norm3;
    private readonly Dropout dropout, dropout1, dropout2, dropout3;

    public SentenceDecoderLayer(SentenceVaeConfig config) : base(nameof(SentenceDecoderLayer))
    {
        self_attn = new FusedMultiheadAttention(config.HiddenSize, config.NumAttentionHeads, config.Dropout);
        multihead_attn = new FusedMultiheadAttention(config.HiddenSize, config.NumAttentionHeads, config.Dropout);
        linear1 = nn.Linear(config.HiddenSize, config.Ffn);
        linear2 = nn.Linear(config.Ffn, config.HiddenSize);
        norm1 = nn.LayerNorm(config.HiddenSize);
        norm2 = nn.LayerNorm(config.HiddenSize);
        norm3 = nn.LayerNorm(config.HiddenSize);
        dropout = nn.Dropout(config.Dropout);
        dropout1 = nn.Dropout(config.Dropout);
        dropout2 = nn.Dropout(config.Dropout);
        dropout3 = nn.Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <summary>Cross-attention keys/values of the sentence vector(s) (B, M, C), once per sentence.</summary>
    public (Tensor Key, Tensor Value) MemoryKeysValues(Tensor memory, IProjection? projection = null) => multihead_attn.MemoryKeysValues(memory, projection);

    /// <param name="x">(B, T, C) — with a cache, only the new positions</param>
    /// <param name="mask">additive causal + padding mask (B, 1, T, past+T), or null for one cached step</param>
    /// <param name="memoryMask">additive padding mask of the memory (B, 1, 1, M), or null when all of it is real</param>
    /// <param name="memory">this layer's cross-attention keys/values of the memory</param>
    /// <param name="cache">the KV cache to read and append to (null: no cache)</param>
    /// <param name="layer">this layer's index in the cache</param>
    public Tensor forward(Tensor x, Tensor? mask, (Tensor Key, Tensor Value) memory, Tensor? memoryMask, IKvCache? cache, int layer)
    {
        x = norm1.forward(x + dropout1.forward(self_attn.SelfAttention(x, mask, cache, layer)));
        x = norm2.forward(x + dropout2.forward(multihead_attn.CrossAttention(x, memory.Key, memory.Value, memoryMask)));
        return norm3.forward(x + dropout3.forward(linear2.forward(dropout.forward(nn.functional.relu(linear1.forward(x))))));   // (B, T, C)
    }

    /// <summary>This layer's decode step outside libtorch, its weights in <paramref name="format"/>.</summary>
    public SentenceDecoderLayerKernel Kernel(WeightFormat format, int threads) =>
        new(self_attn.Projections, multihead_attn.Projections, self_attn.NumHeads, norm1, norm2, norm3, linear1, linear2, format, threads);
}
