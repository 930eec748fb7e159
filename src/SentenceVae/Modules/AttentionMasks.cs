using TorchSharp;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// Additive attention masks from a (B, S) 0/1 padding mask: 0 where attending is allowed, the dtype's
/// most negative finite value elsewhere (as Hugging Face does: a query whose keys are all padding
/// gets uniform attention instead of NaN).
/// </summary>
internal static class AttentionMasks
{
    /// <summary>Query i (absolute position past+i) may see key j when j ≤ past+i and key j is real: (B, 1, T, past+T).</summary>
    public static Tensor CausalPadding(Tensor paddingMask, int past, long t, ScalarType dtype)
    {
        var device = paddingMask.device;
        var queryPos = arange(past, past + t, device: device).unsqueeze(1);          // (T, 1)
        var keyPos = arange(0, paddingMask.shape[1], device: device).unsqueeze(0);   // (1, past+T)
        var allowed = keyPos.le(queryPos).unsqueeze(0).unsqueeze(0)                   // (1, 1, T, past+T)
            .logical_and(paddingMask.to(ScalarType.Bool).unsqueeze(1).unsqueeze(2)); // (B, 1, T, past+T)
        return Additive(allowed, dtype);
    }

    /// <summary>Every query may see every real key: (B, 1, 1, S).</summary>
    public static Tensor Padding(Tensor paddingMask, ScalarType dtype) =>
        Additive(paddingMask.to(ScalarType.Bool).unsqueeze(1).unsqueeze(2), dtype);

    private static Tensor Additive(Tensor allowed, ScalarType dtype)
    {
        using Scalar blocked = finfo(dtype).min.ToScalar();              // held until the call returns (an implicit scalar can be finalized mid-call)
        return zeros(allowed.shape, dtype, allowed.device).masked_fill(allowed.logical_not(), blocked);
    }
}
