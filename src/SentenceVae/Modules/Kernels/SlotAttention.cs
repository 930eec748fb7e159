using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// Self-attention of a decode step's rows over a <see cref="SlotKvCache"/>'s keys and values, in C# on the
/// cache's buffers in place (float32, or bfloat16: widened as they are read): each row's new key and value
/// (from qkv, rows × [q | k | v], heads side by side) are written at its position; then y (rows × C) =
/// softmax(q·kᵀ / √hs) · v over its past and itself, per head — what the cache's update and
/// scaled_dot_product_attention compute. Rows × heads are split over threads
/// when the past is long enough to pay for it; a head of width 64 (every OPT size) keeps its query and output in
/// registers (12 OPT-125M layers at 1,022 positions, one row: 5.9 ms on one thread, against 13.3 for the general loop).
/// </summary>
internal static unsafe class SlotAttention
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call (as the kernels)
    public static void Attend(Tensor keyCache, Tensor valueCache, int[] slots, int[] lengths, int nh, int hs, int positions, float[] qkv, float[] y, int threads)
    {
        if (keyCache.dtype == ScalarType.BFloat16) Attend<BFloat16Cache>(keyCache, valueCache, slots, lengths, nh, hs, positions, qkv, y, threads);
        else if (keyCache.dtype == ScalarType.Float32) Attend<Float32Cache>(keyCache, valueCache, slots, lengths, nh, hs, positions, qkv, y, threads);
        else throw new ArgumentException($"a cache of {keyCache.dtype} (float32 or bfloat16)");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Attend<T>(Tensor keyCache, Tensor valueCache, int[] slots, int[] lengths, int nh, int hs, int positions, float[] qkv, float[] y, int threads)
        where T : struct, ICacheFormat
    {
        int rows = slots.Length, c = nh * hs;
        byte* keys = Pointer(keyCache);
        byte* values = Pointer(valueCache);
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < nh; h++)
            {
                long at = (((long)slots[r] * nh + h) * positions + lengths[slots[r]]) * hs;
                T.Store(qkv.AsSpan(r * 3 * c + c + h * hs, hs), keys, at);
                T.Store(qkv.AsSpan(r * 3 * c + 2 * c + h * hs, hs), values, at);
            }
        float scale = 1f / MathF.Sqrt(hs);
        // Split when the keys and values read pass 256 KB of fp32 (a 768-wide row's past of 43 positions): with the kernels' spinning
        // team a split costs microseconds, and 12 OPT-125M layers at 256 positions measured 1.8 ms on two threads against 3.2 on one.
        long floats = 2L * rows * nh * hs * (slots.Max(s => lengths[s]) + 1);
        if (threads > 1 && floats >= 1 << 16)
            KernelTeam.For(threads).Run(threads, t => { for (int i = t; i < rows * nh; i += threads) Head(i / nh, i % nh); });
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
            fixed (float* s = scores)
            {
                if (hs == 64 && Vector512.IsHardwareAccelerated && DecodeLinear.Vectorized && DecodeLinear.Wide)
                    Head64<T>(q, keys, values, first, length, scale, s, output);
                else
                {
                    float* kv = stackalloc float[hs];                              // a 16-bit cache's position, widened
                    for (int j = 0; j < length; j++) scores[j] = Dot(q, T.Row(keys, first + (long)j * hs, hs, kv), hs) * scale;
                    var p = scores.AsSpan(0, length);
                    TensorPrimitives.SoftMax(p, p);
                    new Span<float>(output, hs).Clear();
                    for (int j = 0; j < length; j++) AddScaled(p[j], T.Row(values, first + (long)j * hs, hs, kv), output, hs);
                }
            }
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    // Where a cache buffer's numbers start in host memory (its raw bytes in place: the buffers are whole contiguous tensors).
    private static byte* Pointer(Tensor t) => (byte*)Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(t.bytes));

    // How a cache keeps its numbers: float32, or bfloat16 (half the bytes to read at every step; rounded to nearest even).
    private interface ICacheFormat
    {
        // Writes values at element `at` of the buffer.
        static abstract void Store(ReadOnlySpan<float> values, byte* buffer, long at);
        // The sixteen numbers at element `at`, as floats.
        static abstract Vector512<float> Load16(byte* buffer, long at);
        // n numbers at element `at` as floats: in place (float32) or widened into `scratch`.
        static abstract float* Row(byte* buffer, long at, int n, float* scratch);
    }

    private readonly struct Float32Cache : ICacheFormat
    {
        public static void Store(ReadOnlySpan<float> values, byte* buffer, long at) => values.CopyTo(new Span<float>((float*)buffer + at, values.Length));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(byte* buffer, long at) => Vector512.Load((float*)buffer + at);

        public static float* Row(byte* buffer, long at, int n, float* scratch) => (float*)buffer + at;
    }

    private readonly struct BFloat16Cache : ICacheFormat
    {
        public static void Store(ReadOnlySpan<float> values, byte* buffer, long at)
        {
            var target = (ushort*)buffer + at;
            for (int i = 0; i < values.Length; i++) target[i] = DecodeLinear.ToBFloat16(values[i]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(byte* buffer, long at) =>
            Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((ushort*)buffer + at)), 16).AsSingle();

        public static float* Row(byte* buffer, long at, int n, float* scratch)
        {
            var source = (ushort*)buffer + at;
            for (int i = 0; i < n; i++) scratch[i] = BitConverter.UInt32BitsToSingle((uint)source[i] << 16);
            return scratch;
        }
    }

    // One head of width 64 in 512-bit registers: q and the output stay in four registers each while the keys and
    // values stream past (the general loop reloads and stores the output at every position).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Head64<T>(float* q, byte* keys, byte* values, long first, int length, float scale, float* scores, float* output) where T : struct, ICacheFormat
    {
        var q0 = Vector512.Load(q) * scale;
        var q1 = Vector512.Load(q + 16) * scale;
        var q2 = Vector512.Load(q + 32) * scale;
        var q3 = Vector512.Load(q + 48) * scale;
        long k = first;
        for (int j = 0; j < length; j++, k += 64)
            scores[j] = Vector512.Sum(Vector512.FusedMultiplyAdd(q0, T.Load16(keys, k), q1 * T.Load16(keys, k + 16))
                                      + Vector512.FusedMultiplyAdd(q2, T.Load16(keys, k + 32), q3 * T.Load16(keys, k + 48)));
        var p = new Span<float>(scores, length);
        TensorPrimitives.SoftMax(p, p);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        long v = first;
        for (int j = 0; j < length; j++, v += 64)
        {
            var w = Vector512.Create(scores[j]);
            a0 = Vector512.FusedMultiplyAdd(w, T.Load16(values, v), a0);
            a1 = Vector512.FusedMultiplyAdd(w, T.Load16(values, v + 16), a1);
            a2 = Vector512.FusedMultiplyAdd(w, T.Load16(values, v + 32), a2);
            a3 = Vector512.FusedMultiplyAdd(w, T.Load16(values, v + 48), a3);
        }
        a0.Store(output);
        a1.Store(output + 16);
        a2.Store(output + 32);
        a3.Store(output + 48);
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
