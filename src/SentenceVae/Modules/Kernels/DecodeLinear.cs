using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// A linear layer for decode steps (a few rows at a time): the weight (out, in) is streamed row after row —
/// in fp32 straight from the model's own tensor (its layout is already that; nothing is copied, so fp32
/// kernels cost no memory), or copied once into a pinned array in bfloat16 (half the bytes) or in int8 blocks
/// with a scale each (<see cref="WeightFormat.Int8"/>: 1.125 bytes a weight, dequantised as it is read) — and each call
/// reads it exactly once: every weight row is loaded into registers and multiplied with all input rows (fp32
/// accumulation) before the next is read. Output rows are split over <see cref="Threads"/> threads. AVX2 +
/// FMA where the CPU has them, a scalar loop elsewhere (<see cref="Vectorized"/>: false forces it, for tests).
/// Training, prefill and large batches stay on libtorch.
/// </summary>
public sealed unsafe class DecodeLinear
{
    private readonly Tensor[]? sources;                   // fp32: the weights, read in place (kept alive here)
    private readonly nint[]? parts;                       // fp32 of several matrices: each one's first weight (rows of `partOut` each)
    private readonly int partOut;
    private readonly ushort[]? half;                      // (out·in) bf16 bits, pinned
    private readonly byte[]? blocks;                      // (out · ⌈in/32⌉ · 36) int8 blocks (scale, then 32 weights), pinned
    private readonly int rowBytes;                        // bytes of one int8 weight row
    private readonly float* weights;                      // fp32 (of one matrix), bf16 or int8 blocks, row after row
    private readonly float[]? bias;                       // (out)

    /// <summary>Most input rows the kernel takes (a whole piece's tokens, for the Sentence Encoder); more go to libtorch.</summary>
    public const int MaxRows = 64;

    /// <summary>Packs <paramref name="weight"/> (out, in) [and <paramref name="bias"/> (out)] in <paramref name="format"/>.</summary>
    public DecodeLinear(Tensor weight, Tensor? bias, WeightFormat format = WeightFormat.Float32, int threads = 1)
        : this([(weight, bias)], format, threads) { }

    /// <summary>
    /// One kernel for several projections of the same input, their outputs side by side (q, k and v: one call reads
    /// all three): <paramref name="projections"/> of (out, in) weights [and biases], all of one shape. fp32 reads each
    /// matrix in place; bf16 and int8 copy them into one.
    /// </summary>
    public DecodeLinear(IReadOnlyList<(Tensor Weight, Tensor? Bias)> projections, WeightFormat format = WeightFormat.Float32, int threads = 1)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        if (projections.Count == 0 || projections.Any(p => !p.Weight.shape.SequenceEqual(projections[0].Weight.shape)))
            throw new ArgumentException("projections of one shape, at least one", nameof(projections));
        partOut = (int)projections[0].Weight.shape[0];
        Out = partOut * projections.Count;
        In = (int)projections[0].Weight.shape[1];
        Format = format;
        Threads = Math.Max(1, threads);
        if (format == WeightFormat.Float32)
        {
            sources = projections.Select(p =>
            {
                var w = p.Weight.detach();
                if (w.device.type != TorchSharp.DeviceType.CPU || w.dtype != ScalarType.Float32 || !w.is_contiguous()) w = w.to(ScalarType.Float32).cpu().contiguous();
                return w.DetachFromDisposeScope();
            }).ToArray();
            var first = sources.Select(w => (nint)((float*)w.storage<float>().data_ptr() + w.storage_offset())).ToArray();
            weights = (float*)first[0];
            if (first.Length > 1) parts = first;
        }
        else
        {
            var values = cat(projections.Select(p => p.Weight.detach().to(ScalarType.Float32).cpu()).ToList(), 0).contiguous().data<float>().ToArray();
            if (format == WeightFormat.Int8)
            {
                rowBytes = (int)WeightFormats.Bytes(format, 1, In);
                blocks = GC.AllocateArray<byte>(Out * rowBytes, pinned: true);                       // a short last block is padded with zeros
                for (int o = 0; o < Out; o++)
                    for (int b = 0; b < In; b += WeightFormats.Int8Block)
                    {
                        var block = values.AsSpan(o * In + b, Math.Min(WeightFormats.Int8Block, In - b));
                        float scale = WeightFormats.Int8Scale(block);
                        int at = o * rowBytes + b / WeightFormats.Int8Block * WeightFormats.Int8BlockBytes;
                        BitConverter.TryWriteBytes(blocks.AsSpan(at, 4), scale);
                        for (int i = 0; i < block.Length; i++) blocks[at + 4 + i] = (byte)WeightFormats.Int8Quantize(block[i], scale);
                    }
                weights = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(blocks));  // pinned: never moves
            }
            else
            {
                half = GC.AllocateUninitializedArray<ushort>(values.Length, pinned: true);
                for (int i = 0; i < values.Length; i++) half[i] = ToBFloat16(values[i]);
                weights = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(half));   // pinned: never moves
            }
        }
        if (projections.Any(p => p.Bias is not null))
            bias = cat(projections.Select(p => p.Bias?.detach().to(ScalarType.Float32).cpu() ?? zeros(partOut)).ToList(), 0).contiguous().data<float>().ToArray();
    }

    /// <summary>Output features.</summary>
    public int Out { get; }
    /// <summary>Input features.</summary>
    public int In { get; }
    /// <summary>How the weights are kept.</summary>
    public WeightFormat Format { get; }
    /// <summary>Threads the output rows are split over.</summary>
    public int Threads { get; init; }
    /// <summary>Bytes of weights one call reads.</summary>
    public long WeightBytes => WeightFormats.Bytes(Format, Out, In);

    /// <summary>Bytes this kernel holds beside the model's own weights (fp32 reads those in place: none).</summary>
    public long CopiedBytes => sources is null ? WeightBytes : 0;

    /// <summary>False forces the scalar loop (for tests of the fallback); the vector loop needs AVX2 and FMA.</summary>
    internal static bool Vectorized { get; set; } = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Round to nearest even, as PyTorch converts to bfloat16 (NaN stays NaN).</summary>
    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        bits += 0x7FFF + ((bits >> 16) & 1);
        return (ushort)(bits >> 16);
    }

    /// <summary>y (rows, out) = x (rows, in) · Wᵀ + b, for CPU float32 tensors of at most <see cref="MaxRows"/> rows (any leading shape).</summary>
    public Tensor Forward(Tensor x)
    {
        var shape = x.shape;
        int rows = (int)(x.NumberOfElements / In);
        var input = x.to(ScalarType.Float32).contiguous().data<float>().ToArray();
        var output = new float[rows * Out];
        Forward(input, rows, output);
        var outShape = shape.ToArray();
        outShape[^1] = Out;
        return tensor(output, outShape);
    }

    /// <summary>y (rows·out) = x (rows·in) · Wᵀ + b; with <paramref name="stride"/>, row r's outputs go to y[offset + r·stride ..] (several projections into one buffer).</summary>
    public void Forward(float[] x, int rows, float[] y, int offset = 0, int stride = 0)
    {
        if (stride == 0) stride = Out;
        if (rows < 1 || rows > MaxRows) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"the kernel takes 1 to {MaxRows} rows");
        if (x.Length < rows * In || y.Length < offset + (rows - 1) * stride + Out || stride < Out) throw new ArgumentException("buffers too small");
        int threads = Math.Min(Threads, Math.Max(1, Out / 64));
        using var inputs = Format == WeightFormat.Int8 && Vectorized && SixteenBitInputs && In % WeightFormats.Int8Block == 0 ? new Int16Inputs(x, rows, In) : null;
        Action<int, int> part = inputs is not null ? inputs.Rows(this, y, offset, stride) : (from, to) => Rows(x, rows, y, offset, stride, from, to);
        if (threads == 1) part(0, Out);
        else if (!Chunked)
        {
            int block = (Out + threads - 1) / threads;
            KernelTeam.For(threads).Run(threads, t => part(t * block, Math.Min(Out, (t + 1) * block)));
        }
        else
        {
            // Chunks of whole blocks of four output rows, taken in turn by whichever thread is free: on a shared host one
            // thread is often slowed, and with halves fixed in advance the call waits for the slower one.
            int chunk = Math.Max(16, (Out / (threads * ChunksPerThread) + 3) / 4 * 4), chunks = (Out + chunk - 1) / chunk, next = -1;
            KernelTeam.For(threads).Run(threads, _ =>
            {
                for (int c; (c = Interlocked.Increment(ref next)) < chunks;) part(c * chunk, Math.Min(Out, (c + 1) * chunk));
            });
        }
    }

    /// <summary>Whether threads take the output rows in chunks as they come free (false: fixed halves, for measuring).</summary>
    internal static bool Chunked { get; set; } = true;

    /// <summary>Chunks per thread when <see cref="Chunked"/>.</summary>
    internal static int ChunksPerThread { get; set; } = 8;

    /// <summary>
    /// Whether int8 weights multiply 16-bit inputs (AVX-512BW: 32 products a block in one multiply-add of 16-bit
    /// pairs, scaled once per block) rather than widening every weight to fp32; false forces the widening loops, for tests.
    /// </summary>
    internal static bool SixteenBitInputs { get; set; } = Avx512BW.IsSupported;

    /// <summary>
    /// Input rows in 16-bit blocks of 32, each with its scale (max |x| / 32767: a relative error of at most 1.5e-5 of
    /// the block's largest input, far below the int8 weights' own), for int8 weight rows read a block at a time.
    /// </summary>
    private sealed class Int16Inputs : IDisposable
    {
        private readonly short[] values;                  // rented: a step calls every projection, so the buffers are reused
        private readonly float[] scales;
        private readonly int rows, blocks, width;

        public Int16Inputs(float[] x, int rows, int width)
        {
            this.rows = rows;
            this.width = width;
            blocks = width / WeightFormats.Int8Block;
            values = System.Buffers.ArrayPool<short>.Shared.Rent(rows * width);
            scales = System.Buffers.ArrayPool<float>.Shared.Rent(rows * blocks);
            for (int k = 0; k < rows * blocks; k++)
            {
                var block = x.AsSpan(k * WeightFormats.Int8Block, WeightFormats.Int8Block);
                float max = 0;
                foreach (var v in block) max = Math.Max(max, Math.Abs(v));
                float scale = max > 0 ? max / 32767f : 1f;
                scales[k] = scale;
                for (int i = 0; i < block.Length; i++) values[k * WeightFormats.Int8Block + i] = (short)Math.Clamp(MathF.Round(block[i] / scale), -32767, 32767);
            }
        }

        public void Dispose()
        {
            System.Buffers.ArrayPool<short>.Shared.Return(values);
            System.Buffers.ArrayPool<float>.Shared.Return(scales);
        }

        public Action<int, int> Rows(DecodeLinear kernel, float[] y, int offset, int stride) => (from, to) =>
        {
            for (int o = from; o < to; o++)
                for (int r = 0; r < rows; r += 4) Dot(kernel, o, r, Math.Min(4, rows - r), y, offset, stride);
        };

        // Weight row o against input rows first..first+count−1 (up to four): each weight block is widened once and used for every row.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Dot(DecodeLinear kernel, int o, int first, int count, float[] y, int offset, int stride)
        {
            ref byte row = ref Unsafe.AsRef<byte>((byte*)kernel.weights + (long)o * kernel.rowBytes);
            ref short x = ref MemoryMarshal.GetArrayDataReference(values);
            ref float s = ref MemoryMarshal.GetArrayDataReference(scales);
            int x0 = first * width, x1 = Math.Min(first + 1, first + count - 1) * width, x2 = Math.Min(first + 2, first + count - 1) * width, x3 = Math.Min(first + 3, first + count - 1) * width;
            int s0 = x0 / WeightFormats.Int8Block, s1 = x1 / WeightFormats.Int8Block, s2 = x2 / WeightFormats.Int8Block, s3 = x3 / WeightFormats.Int8Block;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < blocks; k++)
            {
                ref byte block = ref Unsafe.Add(ref row, k * WeightFormats.Int8BlockBytes);
                var w = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref block, 4))));   // 32 weights
                float ws = Unsafe.ReadUnaligned<float>(ref block);
                int i = k * WeightFormats.Int8Block;
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w, Vector512.LoadUnsafe(ref x, (nuint)(x0 + i)))), Vector512.Create(ws * Unsafe.Add(ref s, s0 + k)), a0);
                if (count < 2) continue;
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w, Vector512.LoadUnsafe(ref x, (nuint)(x1 + i)))), Vector512.Create(ws * Unsafe.Add(ref s, s1 + k)), a1);
                if (count < 3) continue;
                a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w, Vector512.LoadUnsafe(ref x, (nuint)(x2 + i)))), Vector512.Create(ws * Unsafe.Add(ref s, s2 + k)), a2);
                if (count < 4) continue;
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w, Vector512.LoadUnsafe(ref x, (nuint)(x3 + i)))), Vector512.Create(ws * Unsafe.Add(ref s, s3 + k)), a3);
            }
            float b = kernel.bias?[o] ?? 0f;
            y[offset + first * stride + o] = Vector512.Sum(a0) + b;
            if (count > 1) y[offset + (first + 1) * stride + o] = Vector512.Sum(a1) + b;
            if (count > 2) y[offset + (first + 2) * stride + o] = Vector512.Sum(a2) + b;
            if (count > 3) y[offset + (first + 3) * stride + o] = Vector512.Sum(a3) + b;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call (no tier-0 loops)
    private void Rows(float[] x, int rows, float[] y, int offset, int stride, int from, int to)
    {
        if (!(Vectorized && In % 8 == 0))
            for (int o = from; o < to; o++) Scalar(o, x, rows, y, offset, stride, bias?[o] ?? 0f);
        else if (Format == WeightFormat.Float32) Rows<Float32Weights>(x, rows, y, offset, stride, from, to);
        else if (Format == WeightFormat.BFloat16) Rows<BFloat16Weights>(x, rows, y, offset, stride, from, to);
        else Rows<Int8Weights>(x, rows, y, offset, stride, from, to);
    }

    // Four or more input rows: two weight rows at a time against four input rows (eight independent sums), so the
    // multiply-adds are not held up by each other's latency and every weight vector loaded serves four rows;
    // the input rows left over (fewer than four) and a last odd weight row go one weight row at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call (no tier-0 loops)
    private void Rows<T>(float[] x, int rows, float[] y, int offset, int stride, int from, int to) where T : struct, IWeights
    {
        int o = from;
        if (rows >= 4 && Wide && FourByFour && In % 16 == 0)
            for (; o + 4 <= to; o += 4)
            {
                int r = 0;
                for (; r + 4 <= rows; r += 4) Dot4x4Wide<T>(o, x, r, y, offset + o, stride);
                for (int j = 0; j < 4 && r < rows; j++) Dot4<T>(ref Row<T>(o + j), x, rows - r, r, y, offset + o + j, stride, bias?[o + j] ?? 0f);
            }
        if (rows >= 4)
            for (; o + 2 <= to; o += 2)
            {
                ref float w0 = ref Row<T>(o);
                ref float w1 = ref Row<T>(o + 1);
                float b0 = bias?[o] ?? 0f, b1 = bias?[o + 1] ?? 0f;
                int r = 0;
                for (; r + 4 <= rows; r += 4) Dot2x4<T>(ref w0, ref w1, x, r, y, offset + o, stride, b0, b1);
                if (r < rows)
                {
                    Dot4<T>(ref w0, x, rows - r, r, y, offset + o, stride, b0);
                    Dot4<T>(ref w1, x, rows - r, r, y, offset + o + 1, stride, b1);
                }
            }
        for (; o < to; o++) Dot<T>(ref Row<T>(o), x, rows, y, offset + o, stride, bias?[o] ?? 0f);
    }

    /// <summary>
    /// Whether the many-row loops use 512-bit vectors (AVX-512: twice the multiply-adds per instruction where rows make the
    /// product compute-bound; measured ~10 % faster at ten rows here); false forces 256-bit, for tests. The one-row loop
    /// stays 256-bit: it is bound by memory, and 512-bit measured no faster.
    /// </summary>
    internal static bool Wide { get; set; } = Avx512F.IsSupported;

    // Dot2x4 in 512-bit vectors (16 floats): on cores with a full-width AVX-512 unit, twice the arithmetic per instruction.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Dot2x4Wide<T>(ref float w0, ref float w1, ref float x0, nuint r0, int first, float[] y, int at, int stride, float b0, float b1) where T : struct, IWeights
    {
        nuint r1 = r0 + (nuint)In, r2 = r1 + (nuint)In, r3 = r2 + (nuint)In;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
        for (int i = 0; i < In; i += 16)
        {
            var u = T.Load512(ref w0, i);
            var v = T.Load512(ref w1, i);
            var x0v = Vector512.LoadUnsafe(ref x0, r0 + (nuint)i);
            var x1v = Vector512.LoadUnsafe(ref x0, r1 + (nuint)i);
            var x2v = Vector512.LoadUnsafe(ref x0, r2 + (nuint)i);
            var x3v = Vector512.LoadUnsafe(ref x0, r3 + (nuint)i);
            a0 = Avx512F.FusedMultiplyAdd(u, x0v, a0);
            a1 = Avx512F.FusedMultiplyAdd(u, x1v, a1);
            a2 = Avx512F.FusedMultiplyAdd(u, x2v, a2);
            a3 = Avx512F.FusedMultiplyAdd(u, x3v, a3);
            c0 = Avx512F.FusedMultiplyAdd(v, x0v, c0);
            c1 = Avx512F.FusedMultiplyAdd(v, x1v, c1);
            c2 = Avx512F.FusedMultiplyAdd(v, x2v, c2);
            c3 = Avx512F.FusedMultiplyAdd(v, x3v, c3);
        }
        y[at + first * stride] = Vector512.Sum(a0) + b0;
        y[at + (first + 1) * stride] = Vector512.Sum(a1) + b0;
        y[at + (first + 2) * stride] = Vector512.Sum(a2) + b0;
        y[at + (first + 3) * stride] = Vector512.Sum(a3) + b0;
        y[at + 1 + first * stride] = Vector512.Sum(c0) + b1;
        y[at + 1 + (first + 1) * stride] = Vector512.Sum(c1) + b1;
        y[at + 1 + (first + 2) * stride] = Vector512.Sum(c2) + b1;
        y[at + 1 + (first + 3) * stride] = Vector512.Sum(c3) + b1;
    }

    /// <summary>Whether four weight rows go against four input rows at a time (with <see cref="Wide"/>); false: two, for measuring and tests.</summary>
    internal static bool FourByFour { get; set; } = true;

    // Four weight rows (o..o+3) against input rows first..first+3 in 512-bit vectors: sixteen independent sums, and each
    // vector loaded serves four products (two rows of each measured arithmetic-bound at eight rows: 8 loads per 8 products
    // against 8 per 16 here).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Dot4x4Wide<T>(int o, float[] x, int first, float[] y, int at, int stride) where T : struct, IWeights
    {
        ref float w0 = ref Row<T>(o);
        ref float w1 = ref Row<T>(o + 1);
        ref float w2 = ref Row<T>(o + 2);
        ref float w3 = ref Row<T>(o + 3);
        ref float x0 = ref MemoryMarshal.GetArrayDataReference(x);
        nuint r0 = (nuint)(first * In), r1 = r0 + (nuint)In, r2 = r1 + (nuint)In, r3 = r2 + (nuint)In;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default,
                         a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
        for (int i = 0; i < In; i += 16)
        {
            var x0v = Vector512.LoadUnsafe(ref x0, r0 + (nuint)i);
            var x1v = Vector512.LoadUnsafe(ref x0, r1 + (nuint)i);
            var x2v = Vector512.LoadUnsafe(ref x0, r2 + (nuint)i);
            var x3v = Vector512.LoadUnsafe(ref x0, r3 + (nuint)i);
            var u = T.Load512(ref w0, i);
            a00 = Avx512F.FusedMultiplyAdd(u, x0v, a00); a01 = Avx512F.FusedMultiplyAdd(u, x1v, a01);
            a02 = Avx512F.FusedMultiplyAdd(u, x2v, a02); a03 = Avx512F.FusedMultiplyAdd(u, x3v, a03);
            u = T.Load512(ref w1, i);
            a10 = Avx512F.FusedMultiplyAdd(u, x0v, a10); a11 = Avx512F.FusedMultiplyAdd(u, x1v, a11);
            a12 = Avx512F.FusedMultiplyAdd(u, x2v, a12); a13 = Avx512F.FusedMultiplyAdd(u, x3v, a13);
            u = T.Load512(ref w2, i);
            a20 = Avx512F.FusedMultiplyAdd(u, x0v, a20); a21 = Avx512F.FusedMultiplyAdd(u, x1v, a21);
            a22 = Avx512F.FusedMultiplyAdd(u, x2v, a22); a23 = Avx512F.FusedMultiplyAdd(u, x3v, a23);
            u = T.Load512(ref w3, i);
            a30 = Avx512F.FusedMultiplyAdd(u, x0v, a30); a31 = Avx512F.FusedMultiplyAdd(u, x1v, a31);
            a32 = Avx512F.FusedMultiplyAdd(u, x2v, a32); a33 = Avx512F.FusedMultiplyAdd(u, x3v, a33);
        }
        float b0 = bias?[o] ?? 0f, b1 = bias?[o + 1] ?? 0f, b2 = bias?[o + 2] ?? 0f, b3 = bias?[o + 3] ?? 0f;
        int y0 = at + first * stride, y1 = y0 + stride, y2 = y1 + stride, y3 = y2 + stride;
        y[y0] = Vector512.Sum(a00) + b0; y[y1] = Vector512.Sum(a01) + b0; y[y2] = Vector512.Sum(a02) + b0; y[y3] = Vector512.Sum(a03) + b0;
        y[y0 + 1] = Vector512.Sum(a10) + b1; y[y1 + 1] = Vector512.Sum(a11) + b1; y[y2 + 1] = Vector512.Sum(a12) + b1; y[y3 + 1] = Vector512.Sum(a13) + b1;
        y[y0 + 2] = Vector512.Sum(a20) + b2; y[y1 + 2] = Vector512.Sum(a21) + b2; y[y2 + 2] = Vector512.Sum(a22) + b2; y[y3 + 2] = Vector512.Sum(a23) + b2;
        y[y0 + 3] = Vector512.Sum(a30) + b3; y[y1 + 3] = Vector512.Sum(a31) + b3; y[y2 + 3] = Vector512.Sum(a32) + b3; y[y3 + 3] = Vector512.Sum(a33) + b3;
    }

    // Weight row o, as the loops read it (bf16 rows and int8 blocks reinterpreted: Load widens and scales).
    private ref float Row<T>(int o) where T : struct, IWeights
    {
        if (typeof(T) == typeof(Float32Weights))
            return ref Unsafe.AsRef<float>(parts is null ? weights + (long)o * In : (float*)parts[o / partOut] + (long)(o % partOut) * In);
        if (typeof(T) == typeof(BFloat16Weights)) return ref Unsafe.AsRef<float>((ushort*)weights + (long)o * In);
        return ref Unsafe.AsRef<float>((byte*)weights + (long)o * rowBytes);
    }

    // Two weight rows against input rows first..first+3.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Dot2x4<T>(ref float w0, ref float w1, float[] x, int first, float[] y, int at, int stride, float b0, float b1) where T : struct, IWeights
    {
        ref float x0 = ref MemoryMarshal.GetArrayDataReference(x);
        nuint r0 = (nuint)(first * In), r1 = r0 + (nuint)In, r2 = r1 + (nuint)In, r3 = r2 + (nuint)In;
        if (Wide && In % 16 == 0)
        {
            Dot2x4Wide<T>(ref w0, ref w1, ref x0, r0, first, y, at, stride, b0, b1);
            return;
        }
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
        for (int i = 0; i < In; i += 8)
        {
            var u = T.Load(ref w0, i);
            var v = T.Load(ref w1, i);
            var x0v = Vector256.LoadUnsafe(ref x0, r0 + (nuint)i);
            var x1v = Vector256.LoadUnsafe(ref x0, r1 + (nuint)i);
            var x2v = Vector256.LoadUnsafe(ref x0, r2 + (nuint)i);
            var x3v = Vector256.LoadUnsafe(ref x0, r3 + (nuint)i);
            a0 = Fma.MultiplyAdd(u, x0v, a0);
            a1 = Fma.MultiplyAdd(u, x1v, a1);
            a2 = Fma.MultiplyAdd(u, x2v, a2);
            a3 = Fma.MultiplyAdd(u, x3v, a3);
            c0 = Fma.MultiplyAdd(v, x0v, c0);
            c1 = Fma.MultiplyAdd(v, x1v, c1);
            c2 = Fma.MultiplyAdd(v, x2v, c2);
            c3 = Fma.MultiplyAdd(v, x3v, c3);
        }
        y[at + first * stride] = Vector256.Sum(a0) + b0;
        y[at + (first + 1) * stride] = Vector256.Sum(a1) + b0;
        y[at + (first + 2) * stride] = Vector256.Sum(a2) + b0;
        y[at + (first + 3) * stride] = Vector256.Sum(a3) + b0;
        y[at + 1 + first * stride] = Vector256.Sum(c0) + b1;
        y[at + 1 + (first + 1) * stride] = Vector256.Sum(c1) + b1;
        y[at + 1 + (first + 2) * stride] = Vector256.Sum(c2) + b1;
        y[at + 1 + (first + 3) * stride] = Vector256.Sum(c3) + b1;
    }

    private void Scalar(int o, float[] x, int rows, float[] y, int offset, int stride, float b)
    {
        for (int r = 0; r < rows; r++)
        {
            float sum = 0;
            for (int i = 0; i < In; i++) sum += Weight((long)o * In + i) * x[r * In + i];
            y[offset + r * stride + o] = sum + b;
        }
    }

    private float Weight(long index)
    {
        if (Format == WeightFormat.Float32) return Unsafe.Add(ref Row<Float32Weights>((int)(index / In)), (int)(index % In));
        if (Format == WeightFormat.BFloat16) return BitConverter.UInt32BitsToSingle((uint)half![index] << 16);
        long o = index / In, i = index % In;
        long at = o * rowBytes + i / WeightFormats.Int8Block * WeightFormats.Int8BlockBytes;
        return BitConverter.ToSingle(blocks!, (int)at) * (sbyte)blocks![at + 4 + i % WeightFormats.Int8Block];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call (no tier-0 loops)
    private void Dot<T>(ref float w, float[] x, int rows, float[] y, int at, int stride, float b) where T : struct, IWeights
    {
        if (rows == 1)
        {
            y[at] = Dot1<T>(ref w, ref MemoryMarshal.GetArrayDataReference(x)) + b;
            return;
        }
        if (rows == 2)
        {
            Dot2<T>(ref w, x, y, at, stride, b);
            return;
        }
        for (int r = 0; r < rows; r += 4) Dot4<T>(ref w, x, Math.Min(4, rows - r), r, y, at, stride, b);
    }

    // Two input rows against one weight row: two sums per row over alternate vectors, so four independent multiply-adds per
    // step (Dot4 with duplicated rows measured 2× slower at 2,048 × 8,192: its single sum per row waits on each add).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Dot2<T>(ref float w, float[] x, float[] y, int at, int stride, float b) where T : struct, IWeights
    {
        ref float x0 = ref MemoryMarshal.GetArrayDataReference(x);
        nuint r1 = (nuint)In;
        Vector256<float> a0 = default, a1 = default, c0 = default, c1 = default;
        int i = 0;
        for (; i + 16 <= In; i += 16)
        {
            var u = T.Load(ref w, i);
            var v = T.Load(ref w, i + 8);
            a0 = Fma.MultiplyAdd(u, Vector256.LoadUnsafe(ref x0, (nuint)i), a0);
            a1 = Fma.MultiplyAdd(v, Vector256.LoadUnsafe(ref x0, (nuint)(i + 8)), a1);
            c0 = Fma.MultiplyAdd(u, Vector256.LoadUnsafe(ref x0, r1 + (nuint)i), c0);
            c1 = Fma.MultiplyAdd(v, Vector256.LoadUnsafe(ref x0, r1 + (nuint)(i + 8)), c1);
        }
        for (; i < In; i += 8)
        {
            var u = T.Load(ref w, i);
            a0 = Fma.MultiplyAdd(u, Vector256.LoadUnsafe(ref x0, (nuint)i), a0);
            c0 = Fma.MultiplyAdd(u, Vector256.LoadUnsafe(ref x0, r1 + (nuint)i), c0);
        }
        y[at] = Vector256.Sum(a0 + a1) + b;
        y[at + stride] = Vector256.Sum(c0 + c1) + b;
    }

    // Eight weights at element i, as fp32: one loop per format (the JIT compiles each struct's loop apart, no branch inside).
    private interface IWeights
    {
        static abstract Vector256<float> Load(ref float w, int i);
        static abstract Vector512<float> Load512(ref float w, int i);
    }

    private readonly struct Float32Weights : IWeights
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(ref float w, int i) => Vector256.LoadUnsafe(ref w, (nuint)i);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(ref float w, int i) => Vector512.LoadUnsafe(ref w, (nuint)i);
    }

    private readonly struct BFloat16Weights : IWeights
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(ref float w, int i) =>                               // bf16 → fp32 by a shift
            Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref Unsafe.As<float, ushort>(ref w), (nuint)i)), 16).AsSingle();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(ref float w, int i) =>
            Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.LoadUnsafe(ref Unsafe.As<float, ushort>(ref w), (nuint)i)), 16).AsSingle();
    }

    private readonly struct Int8Weights : IWeights
    {
        // Element i (a multiple of 8, or 16 for Load512) of a row of 36-byte blocks: the block's scale × its int8 weights.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(ref float w, int i)
        {
            ref byte block = ref Unsafe.Add(ref Unsafe.As<float, byte>(ref w), (i >> 5) * WeightFormats.Int8BlockBytes);
            var q = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.Add(ref block, 4 + (i & 31)))).AsSByte();
            return Avx.Multiply(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q)), Vector256.Create(Unsafe.ReadUnaligned<float>(ref block)));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(ref float w, int i)
        {
            ref byte block = ref Unsafe.Add(ref Unsafe.As<float, byte>(ref w), (i >> 5) * WeightFormats.Int8BlockBytes);
            var q = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 4 + (i & 31))).AsSByte();
            return Avx512F.Multiply(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(q)), Vector512.Create(Unsafe.ReadUnaligned<float>(ref block)));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call (no tier-0 loops)
    private float Dot1<T>(ref float w, ref float x) where T : struct, IWeights
    {
        int i = 0;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (; i + 32 <= In; i += 32)
        {
            a0 = Fma.MultiplyAdd(T.Load(ref w, i), Vector256.LoadUnsafe(ref x, (nuint)i), a0);
            a1 = Fma.MultiplyAdd(T.Load(ref w, i + 8), Vector256.LoadUnsafe(ref x, (nuint)(i + 8)), a1);
            a2 = Fma.MultiplyAdd(T.Load(ref w, i + 16), Vector256.LoadUnsafe(ref x, (nuint)(i + 16)), a2);
            a3 = Fma.MultiplyAdd(T.Load(ref w, i + 24), Vector256.LoadUnsafe(ref x, (nuint)(i + 24)), a3);
        }
        for (; i < In; i += 8) a0 = Fma.MultiplyAdd(T.Load(ref w, i), Vector256.LoadUnsafe(ref x, (nuint)i), a0);
        return Vector256.Sum((a0 + a1) + (a2 + a3));
    }

    // Up to four input rows (from row `first`) against one weight row: each weight vector is loaded once and used four times.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call (no tier-0 loops)
    private void Dot4<T>(ref float w, float[] x, int count, int first, float[] y, int at, int stride, float b) where T : struct, IWeights
    {
        ref float x0 = ref MemoryMarshal.GetArrayDataReference(x);
        nuint r0 = (nuint)(first * In), r1 = (nuint)(Math.Min(first + 1, first + count - 1) * In),
              r2 = (nuint)(Math.Min(first + 2, first + count - 1) * In), r3 = (nuint)(Math.Min(first + 3, first + count - 1) * In);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < In; i += 8)
        {
            var wv = T.Load(ref w, i);
            a0 = Fma.MultiplyAdd(wv, Vector256.LoadUnsafe(ref x0, r0 + (nuint)i), a0);
            a1 = Fma.MultiplyAdd(wv, Vector256.LoadUnsafe(ref x0, r1 + (nuint)i), a1);
            a2 = Fma.MultiplyAdd(wv, Vector256.LoadUnsafe(ref x0, r2 + (nuint)i), a2);
            a3 = Fma.MultiplyAdd(wv, Vector256.LoadUnsafe(ref x0, r3 + (nuint)i), a3);
        }
        y[at + first * stride] = Vector256.Sum(a0) + b;
        if (count > 1) y[at + (first + 1) * stride] = Vector256.Sum(a1) + b;
        if (count > 2) y[at + (first + 2) * stride] = Vector256.Sum(a2) + b;
        if (count > 3) y[at + (first + 3) * stride] = Vector256.Sum(a3) + b;
    }
}
