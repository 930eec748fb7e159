using TorchSharp.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Modules;

/// <summary>
/// The OPT layer-stack run shared by <see cref="OptDecoder"/> (over token embeddings) and
/// <see cref="SentenceLlm"/> (over sentence vectors): learned positions from the mask's cumulative sum,
/// dropout, then every layer under a causal + padding mask, appending to the KV cache. The modules
/// stay in their owners, so each keeps its checkpoint keys.
/// </summary>
internal static class OptLayers
{
    /// <summary>OPT's learned positions are offset by 2: row p+2 holds position p (fairseq kept rows 0-1 for padding).</summary>
    public const int PositionOffset = 2;

    /// <summary>
    /// Rows of the learned position table for the new positions (B, T): positions come from the mask's
    /// cumulative sum, so padding does not shift them (padded slots get −1, i.e. row 1), plus the offset of 2.
    /// </summary>
    public static Tensor Positions(Tensor mask, int past, long t) => (mask.cumsum(1) * mask - 1).narrow(1, past, t) + PositionOffset;

    /// <param name="embeds">(B, T) inputs (B, T, C): token embeddings or sentence vectors; with a cache only the new positions</param>
    /// <param name="attentionMask">(B, past+T): 1 real / 0 padding over the cached past and these positions</param>
    /// <returns>hidden states (B, T, C) after the last layer (no final norm)</returns>
    /// <param name="positions">the learned position table (offset by 2)</param>
    /// <param name="layers">the OPT layers, run in order</param>
    /// <param name="dropout">dropout on the inputs + positions</param>
    /// <param name="maxPositions">most positions the table holds</param>
    /// <param name="cache">the KV cache to read and append to (null: no cache)</param>
    public static Tensor Run(Embedding positions, ModuleList<OptDecoderLayer> layers, Dropout dropout, int maxPositions,
        Tensor embeds, Tensor attentionMask, KvCache? cache)
    {
        int past = cache?.Length ?? 0;
        long t = embeds.shape[1];
        if (attentionMask.shape[1] != past + t)
            throw new ArgumentException($"attention mask covers {attentionMask.shape[1]} positions, expected past {past} + new {t}");
        if (past + t > maxPositions)
            throw new ArgumentException($"sequence of {past + t} positions exceeds the model's {maxPositions} positions");

        var mask = attentionMask.to(ScalarType.Int64);
        var x = dropout.forward(embeds + positions.forward(Positions(mask, past, t)));   // (B, T, C)
        using var attn = AttentionMasks.CausalPadding(mask, past, t, x.dtype);          // (B, 1, T, past+T)
        for (int i = 0; i < layers.Count; i++) x = layers[i].forward(x, attn, cache, i);
        return x;                                                                        // (B, T, C)
    }

    /// <summary>
    /// One new position for each row of a decoding engine (<see cref="SlotKvCache.SlotStep"/>): each row at its own
    /// position (its length so far), attending to its own past only.
    /// </summary>
    /// <param name="positions">the learned position table (offset by 2)</param>
    /// <param name="layers">the OPT layers, run in order</param>
    /// <param name="dropout">dropout on the inputs + positions</param>
    /// <param name="embeds">(n, 1, C) the rows' new inputs</param>
    /// <param name="step">the rows' positions and past</param>
    /// <returns>(n, 1, C) after the last layer (no final norm)</returns>
    public static Tensor Step(Embedding positions, ModuleList<OptDecoderLayer> layers, Dropout dropout, Tensor embeds, SlotKvCache.SlotStep step)
    {
        var x = dropout.forward(embeds + positions.forward((step.Positions + PositionOffset).unsqueeze(1)));   // (n, 1, C)
        if (DecodeKernels.Layers(layers.Count, i => layers[i], x, step, (l, format, threads) => l.Kernel(format, threads), (k, h, rows, i) => k.Step(h, rows, step, i)) is { } byKernels)
            return byKernels;                                                                               // a step routed through kernels
        for (int i = 0; i < layers.Count; i++) x = layers[i].forward(x, step.Attention, step, i);          // each row sees its own past
        return x;                                                                                           // (n, 1, C)
    }

    /// <summary>As Hugging Face's OPTPreTrainedModel: 2-D weights ~ N(0, std), biases 0 (norms keep 1).</summary>
    public static void Init(nn.Module module, double std)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
            else if (p.dim() == 2) p.normal_(0, std);
        }
    }
}
