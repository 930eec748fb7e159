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
    /// <summary>Hugging Face's repetition_penalty: the logit of every token already in the row's text (prompt and output) is divided by it when positive, multiplied when negative. 1: off.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>OpenAI's frequency_penalty: subtracted from a token's logit once per time the row has written it. 0: off; in [−2, 2].</summary>
    public double FrequencyPenalty { get; init; }
    /// <summary>OpenAI's presence_penalty: subtracted from the logit of every token the row has written. 0: off; in [−2, 2].</summary>
    public double PresencePenalty { get; init; }
    /// <summary>Hugging Face's no_repeat_ngram_size: a token that would complete an n-gram already in the row's text is never chosen. 0: off.</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary>Sentence-level models: a piece identical to one of the row's last N pieces is refused and written again starting with another token. 0: off.</summary>
    public int NoRepeatPieces { get; init; }

    /// <summary>True when any repetition control is on.</summary>
    public bool Penalizes => RepetitionPenalty != 1.0 || FrequencyPenalty != 0 || PresencePenalty != 0 || NoRepeatNgramSize > 0;

    /// <summary>
    /// What text a person reads is written with by default (the playground, <c>svae generate</c>, the demo,
    /// the chat sample): sampling at temperature 0.8 within top-p 0.95, a mild repetition penalty, and a
    /// sentence-level model refusing a piece it wrote among its last 8 — measured against greedy in the
    /// README's repetition table. Tests and benchmarks stay greedy (the plain defaults of this record).
    /// </summary>
    public static GenerationOptions Reading { get; } = new() { Temperature = 0.8, TopP = 0.95, RepetitionPenalty = 1.1, NoRepeatPieces = 8 };

    /// <summary>
    /// The range of repetition_penalty: logits divided or multiplied by any value in it stay finite in
    /// float32 (|logit| ≤ 3e36 at the least; real logits are below 1e3), and beyond it text is one token repeated or none.
    /// </summary>
    public const double MinRepetitionPenalty = 0.01, MaxRepetitionPenalty = 100;

    /// <summary>The highest temperature (the softmax at it is uniform to float32's precision already).</summary>
    public const double MaxTemperature = 100;

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
        if (double.IsNaN(Temperature) || Temperature > MaxTemperature) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, $"must be at most {MaxTemperature}");
        if (double.IsNaN(RepetitionPenalty) || RepetitionPenalty is < MinRepetitionPenalty or > MaxRepetitionPenalty)
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, $"must be in [{MinRepetitionPenalty}, {MaxRepetitionPenalty}] (1: off)");
        if (double.IsNaN(FrequencyPenalty) || FrequencyPenalty is < -2 or > 2) throw new ArgumentOutOfRangeException(nameof(FrequencyPenalty), FrequencyPenalty, "must be in [-2, 2]");
        if (double.IsNaN(PresencePenalty) || PresencePenalty is < -2 or > 2) throw new ArgumentOutOfRangeException(nameof(PresencePenalty), PresencePenalty, "must be in [-2, 2]");
        if (NoRepeatNgramSize < 0) throw new ArgumentOutOfRangeException(nameof(NoRepeatNgramSize), NoRepeatNgramSize, "must be ≥ 0");
        if (NoRepeatPieces < 0) throw new ArgumentOutOfRangeException(nameof(NoRepeatPieces), NoRepeatPieces, "must be ≥ 0");
        return this;
    }
}
