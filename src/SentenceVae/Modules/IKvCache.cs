using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// What an attention layer appends its new keys/values to and reads the past from: a
/// <see cref="KvCache"/> (one sequence length for the whole batch) or a <see cref="SlotKvCache.SlotStep"/>
/// (rows of their own lengths, one new position each).
/// </summary>
public interface IKvCache
{
    /// <summary>Appends this step's key/value (B, nh, T, hs) for a layer; returns the keys/values to attend to (B, nh, S, hs).</summary>
    (Tensor Key, Tensor Value) Update(Tensor key, Tensor value, int layer);
}
