using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// Keys and values of past positions, one pair of tensors per layer, for incremental decoding.
/// Buffers are preallocated and grow by doubling, so a step writes its new keys in place instead
/// of re-copying the whole past. The cache owns its tensors (outside any dispose scope):
/// disposing it frees the memory.
/// </summary>
public sealed class KvCache : IKvCache, IDisposable
{
    private readonly Tensor?[] keys, values;
    private readonly int[] lengths;

    /// <summary>An empty cache for a model of <paramref name="layers"/> layers.</summary>
    public KvCache(int layers)
    {
        keys = new Tensor?[layers];
        values = new Tensor?[layers];
        lengths = new int[layers];
    }

    /// <summary>Positions cached so far (of layer 0; all layers agree between forward passes).</summary>
    public int Length => lengths[0];

    /// <summary>Bytes of the key/value tensors actually allocated (capacity, not just the used part).</summary>
    public long AllocatedBytes => keys.Concat(values).Where(t => t is not null).Sum(t => t!.NumberOfElements * t.ElementSize);

    /// <summary>Appends this step's key/value (B, nh, T, hs) for a layer; returns all keys/values so far (B, nh, past+T, hs).</summary>
    public (Tensor Key, Tensor Value) Update(Tensor key, Tensor value, int layer)
    {
        int past = lengths[layer], steps = (int)key.shape[2], needed = past + steps;
        if (keys[layer] is null || keys[layer]!.shape[2] < needed)
        {
            long capacity = Math.Max(needed, keys[layer] is null ? needed : 2 * keys[layer]!.shape[2]);
            keys[layer] = Grow(keys[layer], key, capacity, past);
            values[layer] = Grow(values[layer], value, capacity, past);
        }
        keys[layer]!.narrow(2, past, steps).copy_(key);
        values[layer]!.narrow(2, past, steps).copy_(value);
        lengths[layer] = needed;
        return (keys[layer]!.narrow(2, 0, needed), values[layer]!.narrow(2, 0, needed));
    }

    /// <summary>A layer's keys/values so far (B, nh, Length, hs), views of the buffers.</summary>
    public (Tensor Key, Tensor Value) Layer(int layer) => (keys[layer]!.narrow(2, 0, lengths[layer]), values[layer]!.narrow(2, 0, lengths[layer]));

    private static Tensor Grow(Tensor? old, Tensor like, long capacity, int used)
    {
        var grown = zeros(new[] { like.shape[0], like.shape[1], capacity, like.shape[3] }, like.dtype, like.device).DetachFromDisposeScope();
        if (old is not null)
        {
            grown.narrow(2, 0, used).copy_(old.narrow(2, 0, used));
            old.Dispose();
        }
        return grown;
    }

    /// <summary>
    /// Sets every layer's past to <paramref name="length"/> positions of random keys and values
    /// (B, nh, ·, hs) in buffers that hold <paramref name="capacity"/> positions without growing. For
    /// benchmarks: a decode step's cost depends on the past's length, not on its values.
    /// </summary>
    internal void FillRandom(long batch, long heads, int length, long headDim, long capacity, Device device)
    {
        for (int layer = 0; layer < keys.Length; layer++)
        {
            keys[layer]?.Dispose();
            values[layer]?.Dispose();
            keys[layer] = zeros(new[] { batch, heads, capacity, headDim }, ScalarType.Float32, device).DetachFromDisposeScope();
            values[layer] = zeros(new[] { batch, heads, capacity, headDim }, ScalarType.Float32, device).DetachFromDisposeScope();
            using (no_grad())
            {
                keys[layer]!.narrow(2, 0, length).normal_();
                values[layer]!.narrow(2, 0, length).normal_();
            }
            lengths[layer] = length;
        }
    }

    /// <summary>Frees the cached tensors.</summary>
    public void Dispose()
    {
        foreach (var t in keys.Concat(values)) t?.Dispose();
        Array.Clear(keys);
        Array.Clear(values);
    }
}
