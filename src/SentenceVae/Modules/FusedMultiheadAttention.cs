using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Modules;

/// <summary>
/// Multi-head attention with PyTorch's <c>nn.MultiheadAttention</c> parameter layout: one fused
/// <c>in_proj_weight</c> (3C, C) / <c>in_proj_bias</c> (3C) for q, k, v, and <c>out_proj</c>.
/// Used as self-attention (optionally with a KV cache) and as cross-attention over given keys/values.
/// </summary>
internal sealed class FusedMultiheadAttention : nn.Module
{
    private readonly int numHeads, hidden;
    private readonly double dropout;
    private readonly Parameter in_proj_weight, in_proj_bias;
    private readonly Linear out_proj;

    public FusedMultiheadAttention(int hidden, int numHeads, double dropout) : base(nameof(FusedMultiheadAttention))
    {
        this.hidden = hidden;
        this.numHeads = numHeads;
        this.dropout = dropout;
        in_proj_weight = new Parameter(empty(3 * hidden, hidden));
        in_proj_bias = new Parameter(zeros(3 * hidden));
        out_proj = nn.Linear(hidden, hidden);
        using (no_grad()) nn.init.xavier_uniform_(in_proj_weight);
        RegisterComponents();
    }

    /// <summary>Self-attention over x (B, T, C); with a cache, x holds only the new positions.</summary>
    public Tensor SelfAttention(Tensor x, Tensor? mask, IKvCache? cache, int layer, IProjection? projection = null)
    {
        var p = projection ?? IProjection.Libtorch;
        var qkv = p.Project(in_proj_weight, in_proj_bias, x).chunk(3, -1);               // 3 × (B, T, C)
        var (k, v) = (Heads(qkv[1]), Heads(qkv[2]));                         // (B, nh, T, hs)
        if (cache is not null) (k, v) = cache.Update(k, v, layer);           // (B, nh, past+T, hs)
        return Attend(Heads(qkv[0]), k, v, mask, p);
    }

    /// <summary>Keys and values of a memory (B, M, C) for cross-attention, computed once per sentence.</summary>
    public (Tensor Key, Tensor Value) MemoryKeysValues(Tensor memory, IProjection? projection = null)
    {
        var p = projection ?? IProjection.Libtorch;
        return (Heads(p.Project(in_proj_weight, in_proj_bias, memory, part: 1, parts: 3)),
                Heads(p.Project(in_proj_weight, in_proj_bias, memory, part: 2, parts: 3)));   // (B, nh, M, hs)
    }

    /// <summary>Cross-attention of x (B, T, C) to precomputed memory keys/values; every query sees all real memory slots (additive mask (B, 1, 1, M), or null: all).</summary>
    public Tensor CrossAttention(Tensor x, Tensor key, Tensor value, Tensor? memoryMask = null)
    {
        return Attend(Heads(IProjection.Libtorch.Project(in_proj_weight, in_proj_bias, x, part: 0, parts: 3)), key, value, memoryMask, IProjection.Libtorch);
    }

    private Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, IProjection p)
    {
        long b = q.shape[0], t = q.shape[2];
        var y = F.scaled_dot_product_attention(q, k, v, mask, training ? dropout : 0.0, false);   // (B, nh, T, hs)
        return p.Linear(out_proj, y.transpose(1, 2).reshape(b, t, hidden));                     // (B, T, C)
    }

    /// <summary>The fused q/k/v weight (3C, C) and bias (3C), and the output projection (for <see cref="SentenceDecoderLayerKernel"/>).</summary>
    public (Tensor InProjWeight, Tensor InProjBias, Linear OutProj) Projections => (in_proj_weight, in_proj_bias, out_proj);

    /// <summary>Attention heads.</summary>
    public int NumHeads => numHeads;

    private Tensor Heads(Tensor x) => x.view(x.shape[0], x.shape[1], numHeads, hidden / numHeads).transpose(1, 2);
}
