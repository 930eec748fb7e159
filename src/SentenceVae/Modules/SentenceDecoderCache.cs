using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// What cached sentence decoding keeps between steps: the self-attention keys/values of past tokens
/// (a <see cref="KvCache"/>) and each layer's cross-attention keys/values of the sentence vector,
/// computed once. Disposing it frees both.
/// </summary>
public sealed class SentenceDecoderCache : IDisposable
{
    /// <summary>A cache holding each layer's memory keys/values (taken out of the current dispose scope) and the memory's additive mask.</summary>
    public SentenceDecoderCache(IReadOnlyList<(Tensor Key, Tensor Value)> memory, Tensor? memoryMask = null)
    {
        Memory = memory.Select(m => (m.Key.DetachFromDisposeScope(), m.Value.DetachFromDisposeScope())).ToList();
        MemoryMask = memoryMask?.DetachFromDisposeScope();
        Self = new KvCache(memory.Count);
    }

    /// <summary>Self-attention keys/values of the tokens decoded so far.</summary>
    public KvCache Self { get; }
    /// <summary>Per layer, the cross-attention keys/values of the memory.</summary>
    public IReadOnlyList<(Tensor Key, Tensor Value)> Memory { get; }
    /// <summary>Additive padding mask of the memory (B, 1, 1, M), or null when all of it is real.</summary>
    public Tensor? MemoryMask { get; }

    /// <summary>Tokens decoded so far (BOS included).</summary>
    public int Length => Self.Length;

    /// <summary>Bytes held by both caches.</summary>
    public long AllocatedBytes => Self.AllocatedBytes + Memory.Sum(m => (m.Key.NumberOfElements + m.Value.NumberOfElements) * m.Key.ElementSize);

    /// <summary>Frees both caches and the mask.</summary>
    public void Dispose()
    {
        Self.Dispose();
        MemoryMask?.Dispose();
        foreach (var (k, v) in Memory) { k.Dispose(); v.Dispose(); }
    }
}
