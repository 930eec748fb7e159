using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// The fixed sin/cos position encoding of the reference (not a parameter, not in the state dict):
/// pe[p, 2i] = sin(p·w_i), pe[p, 2i+1] = cos(p·w_i), w_i = 10000^(-2i/H). Computed for the positions
/// asked for, so a cached decoding step costs one row.
/// </summary>
internal static class SinusoidalPositions
{
    /// <summary>Encodings of positions [start, start+count): (count, hidden).</summary>
    public static Tensor Encode(long start, long count, int hidden, ScalarType dtype, Device device)
    {
        var position = arange(start, start + count, dtype: ScalarType.Float32, device: device).unsqueeze(1);                // (T, 1)
        var rate = exp(arange(0, hidden, 2, dtype: ScalarType.Float32, device: device) * (-Math.Log(10000.0) / hidden));  // (H/2)
        var angles = position * rate;                                                                                      // (T, H/2)
        return stack([sin(angles), cos(angles)], dim: -1).reshape(count, hidden).to(dtype);                              // (T, H) interleaved
    }
}
