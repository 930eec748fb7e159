using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Modules;

/// <summary>OPT's multi-head self-attention: separate q/k/v projections; scores scaled by 1/sqrt(head_dim) (SDPA's default).</summary>
internal sealed class OptAttention : nn.Module
{
    private readonly int numHeads, headDim;
    private readonly double dropout;
    private readonly Linear q_proj, k_proj, v_proj, out_proj;

    public OptAttention(OptConfig config) : base(nameof(OptAttention))
    {
        numHeads = config.NumAttentionHeads;
        headDim = config.HeadDim;
        dropout = config.AttentionDropout;
        q_proj = nn.Linear(config.HiddenSize, config.HiddenSize, hasBias: config.EnableBias);
        k_proj = nn.Linear(config.HiddenSize, config.HiddenSize, hasBias: config.EnableBias);
        v_proj = nn.Linear(config.HiddenSize, config.HiddenSize, hasBias: config.EnableBias);
        out_proj = nn.Linear(config.HiddenSize, config.HiddenSize, hasBias: config.EnableBias);
        RegisterComponents();
    }

    /// <param name="hidden">(B, T, C)</param>
    /// <param name="mask">additive float mask (B, 1, T, past+T): 0 where attending is allowed, a large negative number elsewhere</param>
    /// <param name="cache">the KV cache to read and append to (null: no cache)</param>
    /// <param name="layer">this layer's index in the cache</param>
    public Tensor forward(Tensor hidden, Tensor mask, IKvCache? cache, int layer)
    {
        long b = hidden.shape[0], t = hidden.shape[1];
        using var q = SplitHeads(q_proj.forward(hidden), b, t);   // (B, nh, T, hs)
        var k = SplitHeads(k_proj.forward(hidden), b, t);                   // (B, nh, T, hs)
        var v = SplitHeads(v_proj.forward(hidden), b, t);
        if (cache is not null) (k, v) = cache.Update(k, v, layer);          // (B, nh, past+T, hs)
        using var y = F.scaled_dot_product_attention(q, k, v, mask, training ? dropout : 0.0, false);   // (B, nh, T, hs)
        return out_proj.forward(y.transpose(1, 2).reshape(b, t, numHeads * headDim));   // (B, T, C)
    }

    /// <summary>The four projections (for <see cref="OptLayerKernel"/>).</summary>
    public (Linear Q, Linear K, Linear V, Linear Out) Projections => (q_proj, k_proj, v_proj, out_proj);

    private Tensor SplitHeads(Tensor x, long b, long t) => x.view(b, t, numHeads, headDim).transpose(1, 2);
}
