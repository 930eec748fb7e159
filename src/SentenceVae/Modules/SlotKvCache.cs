using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Modules;

/// <summary>
/// Keys and values of many rows that each have their own length — a decoding engine's cache, as
/// llama.cpp's unified cache with per-sequence positions. Every layer holds one buffer (slots, nh,
/// positions, hs), allocated once; a row lives in a slot, joins by loading its prefill into the slot
/// and steps one position at a time at its own length. Slots past a row's length may hold anything
/// finite (masked out): a slot is zeroed when a row is loaded into it and copied whole when a row
/// moves, so a broken row's non-finite values never reach another row. The buffers are float32 or bfloat16
/// (<see cref="Kernels.WeightFormats.CacheType"/>); the layers always receive float32.
/// </summary>
public sealed class SlotKvCache : IDisposable
{
    private readonly Tensor[] keys, values;          // per layer (S, nh, P, hs)
    private readonly int[] lengths;

    /// <summary>A cache of <paramref name="slots"/> rows of at most <paramref name="positions"/> positions each.</summary>
    public SlotKvCache(int layers, int slots, int heads, int positions, int headDim, ScalarType dtype, Device device)
    {
        if (layers < 1 || slots < 1 || positions < 1) throw new ArgumentOutOfRangeException(nameof(slots), "layers, slots and positions must be at least 1");
        keys = new Tensor[layers];
        values = new Tensor[layers];
        for (int l = 0; l < layers; l++)
        {
            keys[l] = zeros(new long[] { slots, heads, positions, headDim }, dtype, device).DetachFromDisposeScope();
            values[l] = zeros(new long[] { slots, heads, positions, headDim }, dtype, device).DetachFromDisposeScope();
        }
        lengths = new int[slots];
        Positions = positions;
        Heads = heads;
        HeadDim = headDim;
    }

    /// <summary>Attention heads per layer.</summary>
    public int Heads { get; }
    /// <summary>Features per head.</summary>
    public int HeadDim { get; }

    /// <summary>Positions a slot holds.</summary>
    public int Positions { get; }
    /// <summary>Slots.</summary>
    public int Slots => lengths.Length;
    /// <summary>The type the keys and values are kept in (a 16-bit cache is read at half the bytes; the layers compute in float32).</summary>
    public ScalarType Dtype => keys[0].dtype;

    /// <summary>Bytes of all buffers.</summary>
    public long AllocatedBytes => keys.Concat(values).Sum(t => t.NumberOfElements * t.ElementSize);

    /// <summary>Positions row <paramref name="slot"/> holds.</summary>
    public int Length(int slot) => lengths[slot];

    /// <summary>Puts a row's prefill (a batch-1 <see cref="KvCache"/>) into <paramref name="slot"/>, the rest of the slot zeroed.</summary>
    public void Load(int slot, KvCache prefill)
    {
        int length = prefill.Length;
        if (length > Positions) throw new ArgumentException($"a prefill of {length} positions does not fit a slot of {Positions}");
        using var scope = NewDisposeScope();                 // the slot views made here are freed here, whoever calls
        using var noGrad = no_grad();
        for (int l = 0; l < keys.Length; l++)
        {
            var (k, v) = prefill.Layer(l);                                                       // (1, nh, L, hs)
            keys[l][slot].zero_();
            values[l][slot].zero_();
            keys[l][slot].narrow(1, 0, length).copy_(k[0]);
            values[l][slot].narrow(1, 0, length).copy_(v[0]);
        }
        lengths[slot] = length;
    }

    /// <summary>
    /// Sets <paramref name="slot"/>'s past to <paramref name="length"/> positions of random keys and values. For
    /// benchmarks: a step's cost depends on the past's length, not its values, and a prefill of thousands
    /// of tokens through a billion-parameter model would take longer than the timing itself.
    /// </summary>
    public void FillRandom(int slot, int length)
    {
        if (length > Positions) throw new ArgumentException($"{length} positions do not fit a slot of {Positions}");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var t in keys.Concat(values))
        {
            t[slot].zero_();
            t[slot].narrow(1, 0, length).normal_();
        }
        lengths[slot] = length;
    }

    /// <summary>Empties <paramref name="slot"/> (zeroed, length 0).</summary>
    public void Clear(int slot)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var t in keys.Concat(values)) t[slot].zero_();
        lengths[slot] = 0;
    }

    /// <summary>Forgets <paramref name="slot"/>'s positions without clearing them (the row starts over; what it wrote is finite).</summary>
    public void Restart(int slot) => lengths[slot] = 0;

    /// <summary>Moves the row in slot <paramref name="from"/> to slot <paramref name="to"/> (the whole slot, so nothing of the old row stays).</summary>
    public void Move(int from, int to)
    {
        if (from == to) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var t in keys.Concat(values)) t[to].copy_(t[from]);
        lengths[to] = lengths[from];
    }

    /// <summary>A step of one new position for the rows in slots 0..<paramref name="rows"/>−1 (no copies: views of the buffers).</summary>
    public SlotStep Step(int rows) => new(this, Enumerable.Range(0, rows).ToArray(), contiguous: true);

    /// <summary>A step of one new position for the rows in <paramref name="slots"/> (their past is gathered).</summary>
    public SlotStep Step(IReadOnlyList<int> slots) => new(this, slots.ToArray(), contiguous: slots.Select((s, i) => s == i).All(x => x));

    /// <summary>Frees the buffers.</summary>
    public void Dispose()
    {
        foreach (var t in keys.Concat(values)) t.Dispose();
    }

    /// <summary>
    /// One new position for each of some rows: the position each writes (its length), the (n, W) mask of
    /// the positions it may attend to (its past and itself), and the <see cref="IKvCache"/> the layers
    /// append to. <see cref="Commit"/> after the forward pass makes the position part of the rows' past.
    /// </summary>
    public sealed class SlotStep : IKvCache
    {
        private readonly SlotKvCache cache;
        private readonly int[] slots;
        private readonly bool contiguous;
        private readonly Tensor slotIndex, positions;
        private readonly int width;

        internal SlotStep(SlotKvCache cache, int[] slots, bool contiguous)
        {
            if (slots.Length == 0) throw new ArgumentException("a step needs at least one row");
            if (slots.Any(s => cache.lengths[s] >= cache.Positions)) throw new InvalidOperationException($"a row's slot is full ({cache.Positions} positions)");
            this.cache = cache;
            this.slots = slots;
            this.contiguous = contiguous;
            var device = cache.keys[0].device;
            slotIndex = tensor(slots.Select(s => (long)s).ToArray(), device: device);
            positions = tensor(slots.Select(s => (long)cache.lengths[s]).ToArray(), device: device);   // (n)
            width = slots.Max(s => cache.lengths[s]) + 1;
            Attention = AdditiveMask(slots.Select(s => cache.lengths[s] + 1).ToArray(), width, device);   // (n, 1, 1, W)
        }

        /// <summary>The position each row writes now (its length so far), (n).</summary>
        public Tensor Positions => positions;
        /// <summary>Additive attention mask (n, 1, 1, W): 0 where a row may attend (its past and the new position), the most negative float elsewhere.</summary>
        public Tensor Attention { get; }

        /// <inheritdoc/>
        public (Tensor Key, Tensor Value) Update(Tensor key, Tensor value, int layer)
        {
            if (key.shape[2] != 1) throw new ArgumentException("a slot step writes one position per row");
            var rows = contiguous ? arange(slots.Length, device: key.device) : slotIndex;
            var k = cache.keys[layer];
            var v = cache.values[layer];
            k.index_put_(key.select(2, 0).to(k.dtype), TensorIndex.Tensor(slotIndex), TensorIndex.Colon, TensorIndex.Tensor(positions));   // (n, nh, hs) at each row's position
            v.index_put_(value.select(2, 0).to(v.dtype), TensorIndex.Tensor(slotIndex), TensorIndex.Colon, TensorIndex.Tensor(positions));
            var (pastKeys, pastValues) = contiguous
                ? (k.narrow(0, 0, slots.Length).narrow(2, 0, width), v.narrow(0, 0, slots.Length).narrow(2, 0, width))          // (n, nh, W, hs)
                : (k.narrow(2, 0, width).index_select(0, rows), v.narrow(2, 0, width).index_select(0, rows));
            return (pastKeys.to(key.dtype), pastValues.to(value.dtype));                                                      // widened from a 16-bit cache
        }

        /// <summary>
        /// An additive mask (n, 1, 1, W) letting row r attend to its first <paramref name="lengths"/>[r] slots,
        /// made on the host in one transfer (a step's masks cost one call instead of five).
        /// </summary>
        public static Tensor AdditiveMask(int[] lengths, int width, Device device)
        {
            var values = new float[lengths.Length * width];
            for (int r = 0; r < lengths.Length; r++)
                for (int j = lengths[r]; j < width; j++) values[r * width + j] = float.MinValue;
            return tensor(values, new long[] { lengths.Length, 1, 1, width }, device: device);
        }

        /// <summary>Whether the buffers are float32 or bfloat16 in host memory, which <see cref="Attend"/> reads in place.</summary>
        public bool InHostMemory => cache.keys[0].device.type == TorchSharp.DeviceType.CPU && cache.keys[0].dtype is ScalarType.Float32 or ScalarType.BFloat16;

        /// <summary>
        /// Self-attention of the stepped rows in C#, on the buffers in place (<see cref="InHostMemory"/>): each row's
        /// new key and value (from <paramref name="qkv"/>, rows × [q | k | v], heads side by side) are written at its
        /// position in layer <paramref name="layer"/>; then y (rows × C) = softmax(q·kᵀ / √hs) · v over its past and
        /// itself, per head — what <see cref="Update"/> and scaled_dot_product_attention under <see cref="Attention"/> compute.
        /// Rows × heads are split over <paramref name="threads"/> threads when the past is long enough to pay for it.
        /// </summary>
        public void Attend(int layer, float[] qkv, int rows, float[] y, int threads)
        {
            if (rows != slots.Length) throw new ArgumentException($"the step has {slots.Length} rows, not {rows}");
            Kernels.SlotAttention.Attend(cache.keys[layer], cache.values[layer], slots, cache.lengths, cache.Heads, cache.HeadDim, cache.Positions, qkv, y, threads);
        }

        /// <summary>The new position is now part of every stepped row's past.</summary>
        public void Commit()
        {
            foreach (int s in slots) cache.lengths[s]++;
        }
    }
}
