namespace SentenceVae.Inference;

/// <summary>How to pick tokens. Temperature 0 is greedy; otherwise sample from softmax(logits / T), optionally within the top-k and top-p (nucleus) sets.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (EOS included).</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>0: greedy; above 0: sample from the softmax at this temperature.</summary>
    public double Temperature { get; init; } = 0.0;
    /// <summary>0: no top-k filter.</summary>
    public int TopK { get; init; }
    /// <summary>1: no nucleus filter.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Seed of the sampling generator; null draws from the global generator.</summary>
    public long? Seed { get; init; }
    /// <summary>Stop a row at EOS (false: always generate MaxNewTokens, for timing).</summary>
    public bool StopAtEos { get; init; } = true;

    /// <summary>Temperatures below this are greedy: the softmax at them is one token already, and dividing by them is not safe in float32.</summary>
    public const double GreedyBelow = 1e-4;

    /// <summary>True when decoding takes the most likely token (temperature 0, or too small to sample at, <see cref="GreedyBelow"/>).</summary>
    public bool Greedy => Temperature < GreedyBelow;

    /// <summary>Checks the ranges; throws <see cref="ArgumentException"/> naming the bad option.</summary>
    public GenerationOptions Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "must be ≥ 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "must be ≥ 0");
        if (TopP is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "must be in (0, 1]");
        if (double.IsNaN(Temperature) || Temperature < 0) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "must be ≥ 0");
        return this;
    }
}
