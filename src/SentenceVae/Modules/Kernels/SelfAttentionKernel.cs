using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// Causal self-attention of a decode step for the layer kernels (<see cref="OptLayerKernel"/>,
/// <see cref="SentenceDecoderLayerKernel"/>): q, k and v projected into one buffer by one kernel call (int8
/// quantizes the input once instead of three times: OPT-125M's twelve layers of q, k, v at one row measured
/// 1.3 → 1.0 ms; fp32 and bf16 the same within noise), attention over the rows' slots
/// (<see cref="SlotKvCache.SlotStep.Attend"/>, which also appends k and v), then the output projection.
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
