using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.CompilerServices;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// One <see cref="OptDecoderLayer"/>'s decode step for a few rows, wholly outside libtorch: its layer norms,
/// residuals and ReLU in C# (<see cref="TensorPrimitives"/>), attention over the rows' slots of the
/// <see cref="SlotKvCache"/> (<see cref="SlotKvCache.SlotStep.Attend"/>), its projections by
/// <see cref="DecodeLinear"/> (q, k and v in one), reading the model's weights in place in fp32. At batch 1 a step of libtorch calls costs about a
/// dozen dispatches per layer; here there are none, and nothing spins beside the kernels' threads.
/// The same arithmetic as the module in eval mode, to float rounding.
/// </summary>
internal sealed class OptLayerKernel : ILayerKernel
{
    private readonly bool preNorm;
    private readonly LayerNormKernel selfAttnNorm, finalNorm;                 // self_attn_layer_norm, final_layer_norm
    private readonly SelfAttentionKernel selfAttn;                // q, k, v, out: (C, C) each
    private readonly DecodeLinear fc1, fc2;                        // (F, C), (C, F)
    private readonly int hidden;
    private float[] h = [], o = [], f = [];                         // scratch, grown to the rows of a step

    public OptLayerKernel(bool preNorm, LayerNorm selfAttnLayerNorm, (Linear Q, Linear K, Linear V, Linear Out) attention,
        LayerNorm finalLayerNorm, Linear fc1, Linear fc2, WeightFormat format, int threads)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        this.preNorm = preNorm;
        hidden = (int)attention.Out.weight!.shape[0];
        selfAttnNorm = new LayerNormKernel(selfAttnLayerNorm, hidden);
        finalNorm = new LayerNormKernel(finalLayerNorm, hidden);
        var (qp, kp, vp, op) = attention;
        selfAttn = new SelfAttentionKernel(new DecodeLinear([(qp.weight!, qp.bias), (kp.weight!, kp.bias), (vp.weight!, vp.bias)], format, threads),
            new DecodeLinear(op.weight!, op.bias, format, threads));
        this.fc1 = new DecodeLinear(fc1.weight!, fc1.bias, format, threads);
        this.fc2 = new DecodeLinear(fc2.weight!, fc2.bias, format, threads);
    }

    /// <summary>Bytes of weights one step reads.</summary>
    public long WeightBytes => Kernels.Sum(k => k.WeightBytes);

    /// <summary>Bytes held beside the model's weights (bf16 copies; fp32 reads the model's own).</summary>
    public long CopiedBytes => Kernels.Sum(k => k.CopiedBytes);

    private DecodeLinear[] Kernels => [.. selfAttn.Kernels, fc1, fc2];

    /// <summary>x (rows·C) ← the layer's output, for the rows of <paramref name="step"/>, appending their keys and values to layer <paramref name="layer"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call: tier-0 code here measured a quarter slower over the first runs
    public void Step(float[] x, int rows, SlotKvCache.SlotStep step, int layer)
    {
        int n = rows * hidden;
        Grow(ref h, n);
        Grow(ref o, n);
        Grow(ref f, rows * fc1.Out);

        var input = preNorm ? selfAttnNorm.Apply(x, h, rows) : x;
        selfAttn.Step(input, rows, step, layer, o);                        // (rows, C)
        TensorPrimitives.Add(x.AsSpan(0, n), o.AsSpan(0, n), x.AsSpan(0, n));
        if (!preNorm) selfAttnNorm.Apply(x, x, rows);

        input = preNorm ? finalNorm.Apply(x, h, rows) : x;
        fc1.Forward(input, rows, f);                                       // (rows, F)
        TensorPrimitives.Max(f.AsSpan(0, rows * fc1.Out), 0f, f.AsSpan(0, rows * fc1.Out));   // ReLU
        fc2.Forward(f, rows, o);
        TensorPrimitives.Add(x.AsSpan(0, n), o.AsSpan(0, n), x.AsSpan(0, n));
        if (!preNorm) finalNorm.Apply(x, x, rows);
    }

    private static void Grow(ref float[] buffer, int size) => LayerNormKernel.Grow(ref buffer, size);
}
