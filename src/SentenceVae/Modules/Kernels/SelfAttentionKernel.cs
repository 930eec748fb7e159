using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// Causal self-attention of a decode step for the layer kernels (<see cref="OptLayerKernel"/>,
/// <see cref="SentenceDecoderLayerKernel"/>): q, k and v projected into one buffer, attention over the rows'
/// slots (<see cref="SlotKvCache.SlotStep.Attend"/>, which also appends k and v), then the output projection.
/// </summary>
internal sealed class SelfAttentionKernel(DecodeLinear q, DecodeLinear k, DecodeLinear v, DecodeLinear output)
{
    private readonly int hidden = output.Out;
    private float[] qkv = [], attn = [];                            // scratch, grown to the rows of a step

    /// <summary>The four projections.</summary>
    public DecodeLinear[] Kernels => [q, k, v, output];

    /// <summary>y (rows·C) = out_proj(attention(x)) for the rows of <paramref name="step"/> at layer <paramref name="layer"/>.</summary>
    public void Step(float[] x, int rows, SlotKvCache.SlotStep step, int layer, float[] y)
    {
        LayerNormKernel.Grow(ref qkv, rows * 3 * hidden);
        LayerNormKernel.Grow(ref attn, rows * hidden);
        q.Forward(x, rows, qkv, 0, 3 * hidden);                        // (rows, [q | k | v])
        k.Forward(x, rows, qkv, hidden, 3 * hidden);
        v.Forward(x, rows, qkv, 2 * hidden, 3 * hidden);
        step.Attend(layer, qkv, rows, attn, q.Threads);                // (rows, C)
        output.Forward(attn, rows, y);
    }
}
