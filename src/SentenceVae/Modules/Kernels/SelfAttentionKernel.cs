using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// Causal self-attention of a decode step for the layer kernels (<see cref="OptLayerKernel"/>,
/// <see cref="SentenceDecoderLayerKernel"/>): q, k and v projected into one buffer by one kernel (one pass over
/// the three matrices: OPT-125M's, a quarter of a layer's bytes each, measured 20 % below the bandwidth of the
/// larger projections as three calls), attention over the rows' slots (<see cref="SlotKvCache.SlotStep.Attend"/>,
/// which also appends k and v), then the output projection.
/// </summary>
internal sealed class SelfAttentionKernel(DecodeLinear qkvProjection, DecodeLinear output)
{
    private readonly int hidden = output.Out;
    private float[] qkv = [], attn = [];                            // scratch, grown to the rows of a step

    /// <summary>The projections: q, k and v in one, then the output.</summary>
    public DecodeLinear[] Kernels => [qkvProjection, output];

    /// <summary>y (rows·C) = out_proj(attention(x)) for the rows of <paramref name="step"/> at layer <paramref name="layer"/>.</summary>
    public void Step(float[] x, int rows, SlotKvCache.SlotStep step, int layer, float[] y)
    {
        LayerNormKernel.Grow(ref qkv, rows * 3 * hidden);
        LayerNormKernel.Grow(ref attn, rows * hidden);
        qkvProjection.Forward(x, rows, qkv);                           // (rows, [q | k | v])
        step.Attend(layer, qkv, rows, attn, qkvProjection.Threads);    // (rows, C)
        output.Forward(attn, rows, y);
    }
}
