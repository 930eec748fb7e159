using static TorchSharp.torch;

namespace SentenceVae.Inference;

/// <summary>
/// What cached sentence decoding keeps between steps: the self-attention keys/values of past tokens
/// (a <see cref="KvCache"/>) and each layer's cross-attention keys/values of the sentence vector,
/// computed once. Disposing it frees both.
/// </summary>
public sealed class SentenceDecoderCache : IDisposable
{
    public SentenceDecoderCache(IReadOnlyList<(Tensor Key, Tensor Value)> memory, Tensor? memoryMask = null)
    {
        Memory = memory.Select(m => (m.Key.DetachFromDisposeScope(), m.Value.DetachFromDisposeScope())).ToList();
        MemoryMask = memoryMask?.DetachFromDisposeScope();
        Self = new KvCache(memory.Count);
    }

    public KvCache Self { get; }
    public IReadOnlyList<(Tensor Key, Tensor Value)> Memory { get; }
    /// <summary>Additive padding mask of the memory (B, 1, 1, M), or null when all of it is real.</summary>
    public Tensor? MemoryMask { get; }

    /// <summary>Tokens decoded so far (BOS included).</summary>
    public int Length => Self.Length;

    public long AllocatedBytes => Self.AllocatedBytes + Memory.Sum(m => (m.Key.NumberOfElements + m.Value.NumberOfElements) * m.Key.ElementSize);

    public void Dispose()
    {
        Self.Dispose();
        MemoryMask?.Dispose();
        foreach (var (k, v) in Memory) { k.Dispose(); v.Dispose(); }
    }
}
