using static TorchSharp.torch;

namespace SentenceVae.Inference;

/// <summary>Chooses the next token of each row from its logits: greedy, or temperature / top-k / top-p sampling with a seeded generator.</summary>
public sealed class TokenSampler : IDisposable
{
    private readonly GenerationOptions options;
    private readonly Generator? generator;

    /// <summary>A sampler for <paramref name="options"/> whose random numbers come from a generator on <paramref name="device"/> (seeded when options give a seed).</summary>
    public TokenSampler(GenerationOptions options, Device device)
    {
        this.options = options.Validate();
        if (options.Seed is long seed && !options.Greedy) generator = new Generator((ulong)seed, device);
    }

    /// <param name="logits">(B, V)</param>
    /// <returns>(B) token ids</returns>
    public Tensor Sample(Tensor logits)
    {
        if (options.Greedy) return logits.argmax(-1);
        var scaled = logits.to(ScalarType.Float32) / options.Temperature;          // (B, V)
        if (options.TopK > 0 && options.TopK < scaled.shape[1])
        {
            var kth = scaled.topk(options.TopK, dim: -1).values.narrow(1, options.TopK - 1, 1);   // (B, 1)
            scaled = scaled.masked_fill(scaled.lt(kth), float.NegativeInfinity);
        }
        if (options.TopP < 1.0)
        {
            var (sorted, order) = scaled.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            // Drop a token when the tokens before it already reach top_p (the first token always stays).
            var drop = (cumulative - sorted.softmax(-1)).gt(options.TopP);
            scaled = scaled.scatter(-1, order, sorted.masked_fill(drop, float.NegativeInfinity));
        }
        return scaled.softmax(-1).multinomial(1, generator: generator).squeeze(-1);       // (B)
    }

    /// <summary>Frees the random generator.</summary>
    public void Dispose() => generator?.Dispose();
}
