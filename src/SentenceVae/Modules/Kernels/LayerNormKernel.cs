using System.Runtime.CompilerServices;
using TorchSharp.Modules;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SentenceVae.Modules.Kernels;

/// <summary>What a layer's decode step outside libtorch reads (<see cref="DecodeKernels"/> keeps one per layer).</summary>
internal interface ILayerKernel
{
    /// <summary>Bytes of weights one step reads.</summary>
    long WeightBytes { get; }

    /// <summary>Bytes held beside the model's weights (bf16 copies; fp32 reads the model's own).</summary>
    long CopiedBytes { get; }
}

/// <summary>A LayerNorm for the layer kernels, its weights on the host: y = (x − mean) / √(var + ε) · w + b per row (biased variance, as torch).</summary>
internal sealed class LayerNormKernel(LayerNorm norm, int c)
{
    private readonly float[]? weight = norm.weight?.detach().cpu().data<float>().ToArray();
    private readonly float[]? bias = norm.bias?.detach().cpu().data<float>().ToArray();
    private readonly float eps = (float)norm.eps;

    /// <summary>y (rows·C) = the norm of x (rows·C); y may be x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public float[] Apply(float[] x, float[] y, int rows)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.AsSpan(r * c, c);
            var yr = y.AsSpan(r * c, c);
            float mean = TensorPrimitives.Sum<float>(xr) / c;
            TensorPrimitives.Subtract(xr, mean, yr);
            float variance = TensorPrimitives.SumOfSquares<float>(yr) / c;
            TensorPrimitives.Multiply(yr, 1f / MathF.Sqrt(variance + eps), yr);
            if (weight is not null) TensorPrimitives.Multiply(yr, weight, yr);
            if (bias is not null) TensorPrimitives.Add(yr, bias, yr);
        }
        return y;
    }

    /// <summary>A scratch buffer of at least <paramref name="size"/> floats.</summary>
    public static void Grow(ref float[] buffer, int size)
    {
        if (buffer.Length < size) buffer = new float[size];
    }
}
