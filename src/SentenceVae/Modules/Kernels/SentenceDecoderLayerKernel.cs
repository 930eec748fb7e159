using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp.Modules;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// One <see cref="SentenceDecoderLayer"/>'s decode step for a few rows, wholly outside libtorch, as
/// <see cref="OptLayerKernel"/> is for OPT layers: post-norm self-attention over the rows' decoder slots
/// (<see cref="SlotKvCache.SlotStep.Attend"/>), cross-attention to each row's memory keys/values (read in place,
/// under its additive mask), ReLU FFN; projections by <see cref="DecodeLinear"/> (fp32: the model's own weights).
/// The same arithmetic as the module in eval mode, to float rounding.
/// </summary>
internal sealed class SentenceDecoderLayerKernel : ILayerKernel
{
    private readonly LayerNormKernel norm1, norm2, norm3;
    private readonly SelfAttentionKernel selfAttn;
    private readonly DecodeLinear crossQ, crossOut, linear1, linear2;
    private readonly int hidden, heads;
    private float[] qkv = [], attn = [], o = [], f = [];             // scratch (qkv: the cross-attention's queries), grown to the rows of a step

    public SentenceDecoderLayerKernel((Tensor InProjWeight, Tensor InProjBias, Linear OutProj) self, (Tensor InProjWeight, Tensor InProjBias, Linear OutProj) cross,
        int heads, LayerNorm norm1, LayerNorm norm2, LayerNorm norm3, Linear linear1, Linear linear2, WeightFormat format, int threads)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        hidden = (int)self.OutProj.weight!.shape[0];
        this.heads = heads;
        this.norm1 = new LayerNormKernel(norm1, hidden);
        this.norm2 = new LayerNormKernel(norm2, hidden);
        this.norm3 = new LayerNormKernel(norm3, hidden);
        DecodeLinear Part((Tensor W, Tensor B, Linear _) p, int part) => new(p.W.chunk(3, 0)[part], p.B.chunk(3, 0)[part], format, threads);
        selfAttn = new SelfAttentionKernel(new DecodeLinear(self.InProjWeight, self.InProjBias, format, threads), new DecodeLinear(self.OutProj.weight!, self.OutProj.bias, format, threads));
        crossQ = Part(cross, 0);
        crossOut = new DecodeLinear(cross.OutProj.weight!, cross.OutProj.bias, format, threads);
        this.linear1 = new DecodeLinear(linear1.weight!, linear1.bias, format, threads);
        this.linear2 = new DecodeLinear(linear2.weight!, linear2.bias, format, threads);
    }

    private DecodeLinear[] Kernels => [.. selfAttn.Kernels, crossQ, crossOut, linear1, linear2];

    /// <inheritdoc/>
    public long WeightBytes => Kernels.Sum(k => k.WeightBytes);

    /// <inheritdoc/>
    public long CopiedBytes => Kernels.Sum(k => k.CopiedBytes);

    /// <summary>
    /// x (rows·C) ← the layer's output for the rows of <paramref name="step"/>, appending their keys and values to
    /// layer <paramref name="layer"/>; <paramref name="memory"/> holds the rows' memory keys/values (rows, nh, M, hs),
    /// <paramref name="memoryMask"/> their additive mask (rows·M) or null (all real).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Step(float[] x, int rows, SlotKvCache.SlotStep step, int layer, (Tensor Key, Tensor Value) memory, float[]? memoryMask)
    {
        int n = rows * hidden;
        LayerNormKernel.Grow(ref qkv, n);
        LayerNormKernel.Grow(ref attn, n);
        LayerNormKernel.Grow(ref o, n);
        LayerNormKernel.Grow(ref f, rows * linear1.Out);

        selfAttn.Step(x, rows, step, layer, o);                          // (rows, C)
        TensorPrimitives.Add(x.AsSpan(0, n), o.AsSpan(0, n), x.AsSpan(0, n));
        norm1.Apply(x, x, rows);

        crossQ.Forward(x, rows, qkv);                                     // (rows, C)
        CrossAttend(qkv, memory.Key.contiguous(), memory.Value.contiguous(), memoryMask, rows, attn);
        crossOut.Forward(attn, rows, o);
        TensorPrimitives.Add(x.AsSpan(0, n), o.AsSpan(0, n), x.AsSpan(0, n));
        norm2.Apply(x, x, rows);

        linear1.Forward(x, rows, f);                                      // (rows, F)
        TensorPrimitives.Max(f.AsSpan(0, rows * linear1.Out), 0f, f.AsSpan(0, rows * linear1.Out));   // ReLU
        linear2.Forward(f, rows, o);
        TensorPrimitives.Add(x.AsSpan(0, n), o.AsSpan(0, n), x.AsSpan(0, n));
        norm3.Apply(x, x, rows);
    }

    // y (rows·C) = softmax(q·kᵀ / √hs + mask) · v per row and head, over the row's memory slots (keys/values (rows, nh, M, hs), contiguous).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void CrossAttend(float[] q, Tensor keys, Tensor values, float[]? mask, int rows, float[] y)
    {
        int hs = hidden / heads, slots = (int)keys.shape[2];
        float* k = (float*)keys.storage<float>().data_ptr() + keys.storage_offset();
        float* v = (float*)values.storage<float>().data_ptr() + values.storage_offset();
        float scale = 1f / MathF.Sqrt(hs);
        var scores = new float[slots];
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++)
            {
                long first = ((long)r * heads + h) * slots * hs;
                var qh = q.AsSpan(r * hidden + h * hs, hs);
                for (int j = 0; j < slots; j++)
                    scores[j] = TensorPrimitives.Dot(qh, new ReadOnlySpan<float>(k + first + (long)j * hs, hs)) * scale + (mask?[r * slots + j] ?? 0f);
                TensorPrimitives.SoftMax(scores, scores);
                var output = y.AsSpan(r * hidden + h * hs, hs);
                output.Clear();
                for (int j = 0; j < slots; j++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v + first + (long)j * hs, hs), scores[j], output, output);
            }
    }
}
