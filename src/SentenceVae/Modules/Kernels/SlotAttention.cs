using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// Self-attention of a decode step's rows over a <see cref="SlotKvCache"/>'s keys and values, in C# on the
/// cache's buffers in place: each row's new key and value (from qkv, rows × [q | k | v], heads side by side)
/// are written at its position; then y (rows × C) = softmax(q·kᵀ / √hs) · v over its past and itself, per head
/// — what the cache's update and scaled_dot_product_attention compute. Rows × heads are split over threads
/// when the past is long enough to pay for it.
/// </summary>
internal static unsafe class SlotAttention
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call (as the kernels)
    public static void Attend(Tensor keyCache, Tensor valueCache, int[] slots, int[] lengths, int nh, int hs, int positions, float[] qkv, float[] y, int threads)
    {
        int rows = slots.Length, c = nh * hs;
        float* keys = (float*)keyCache.storage<float>().data_ptr() + keyCache.storage_offset();
        float* values = (float*)valueCache.storage<float>().data_ptr() + valueCache.storage_offset();
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < nh; h++)
            {
                long at = (((long)slots[r] * nh + h) * positions + lengths[slots[r]]) * hs;
                qkv.AsSpan(r * 3 * c + c + h * hs, hs).CopyTo(new Span<float>(keys + at, hs));
                qkv.AsSpan(r * 3 * c + 2 * c + h * hs, hs).CopyTo(new Span<float>(values + at, hs));
            }
        float scale = 1f / MathF.Sqrt(hs);
        // Split when the keys and values read pass 4 MB: at OPT-125M's 256 positions (1.6 MB a layer) two threads measured no faster.
        long floats = 2L * rows * nh * hs * (slots.Max(s => lengths[s]) + 1);
        if (threads > 1 && floats >= 1 << 20)
            Parallel.For(0, rows * nh, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => Head(i / nh, i % nh));
        else
            for (int i = 0; i < rows * nh; i++) Head(i / nh, i % nh);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Head(int r, int h)
        {
            int length = lengths[slots[r]] + 1;                                  // its past and the new position
            long first = ((long)slots[r] * nh + h) * positions * hs;
            var scores = ArrayPool<float>.Shared.Rent(length);
            fixed (float* q = &qkv[r * 3 * c + h * hs])
            fixed (float* output = &y[r * c + h * hs])
            {
                for (int j = 0; j < length; j++) scores[j] = Dot(q, keys + first + (long)j * hs, hs) * scale;
                var p = scores.AsSpan(0, length);
                TensorPrimitives.SoftMax(p, p);
                new Span<float>(output, hs).Clear();
                for (int j = 0; j < length; j++) AddScaled(p[j], values + first + (long)j * hs, output, hs);
            }
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    // a · b over n floats (a head's width: short, so no library call per position).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && DecodeLinear.Vectorized)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    // y += p · v over n floats.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddScaled(float p, float* v, float* y, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && DecodeLinear.Vectorized)
        {
            var pv = Vector256.Create(p);
            for (; i + 8 <= n; i += 8) Vector256.FusedMultiplyAdd(pv, Vector256.Load(v + i), Vector256.Load(y + i)).Store(y + i);
        }
        for (; i < n; i++) y[i] += p * v[i];
    }
}
