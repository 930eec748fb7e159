using System.Text.Json.Serialization;

namespace SentenceVae.Evaluation;

/// <summary>
/// Metrics of one model on one text, with the same keys for every kind of model (null where a metric
/// does not apply): <c>loss</c> (mean cross entropy per predicted token, nats), <c>ppl</c> (exp of it),
/// <c>bits_per_byte</c> (total negative log-likelihood in bits / UTF-8 bytes of the scored text),
/// <c>token_accuracy</c>, <c>exact_match</c>, <c>tokens</c>, <c>bytes</c>, and <c>context</c>: the window
/// it was scored with (tokens for a token model, pieces for a sentence-level LLM).
/// </summary>
public sealed record EvalResult(
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("ppl")] double Ppl,
    [property: JsonPropertyName("bits_per_byte")] double? BitsPerByte,
    [property: JsonPropertyName("token_accuracy")] double? TokenAccuracy,
    [property: JsonPropertyName("exact_match")] double? ExactMatch,
    [property: JsonPropertyName("tokens")] long Tokens,
    [property: JsonPropertyName("bytes")] long Bytes)
{
    /// <summary>The scoring window: tokens (token model) or pieces (sentence-level LLM); null where windows do not apply.</summary>
    [JsonPropertyName("context")] public int? Context { get; init; }
}
