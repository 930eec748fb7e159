using System.Text.Json.Serialization;

namespace SentenceVae.Evaluation;

/// <summary>What one model measured in a benchmark run (JSON names as the issue specifies).</summary>
public sealed record BenchmarkModel
{
    /// <summary>The model directory's name.</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }
    /// <summary>A token model or a sentence-level LLM (written as its model_type).</summary>
    [JsonPropertyName("kind")] public required Checkpoints.ModelKind Kind { get; init; }
    /// <summary>Parameters (tied weights counted once).</summary>
    [JsonPropertyName("params")] public long Params { get; init; }
    /// <summary>Per-token perplexity on the evaluation text (tokens of each model's own kind).</summary>
    [JsonPropertyName("ppl")] public double Ppl { get; init; }
    /// <summary>Negative log-likelihood of the evaluation text in bits per UTF-8 byte (windows of the model's trained context).</summary>
    [JsonPropertyName("bits_per_byte")] public double BitsPerByte { get; init; }
    /// <summary>The scoring window: the context the model was trained on (tokens for a token model, pieces for a sentence-level LLM).</summary>
    [JsonPropertyName("context")] public int Context { get; init; }
    /// <summary>Bits per byte of each further text (<see cref="BenchmarkOptions.ScoredTexts"/>), by its name.</summary>
    [JsonPropertyName("bits_per_byte_by_text")] public Dictionary<string, double> BitsPerByteByText { get; init; } = new();
    /// <summary>Sentence-VAE reconstruction token accuracy (paper layout only).</summary>
    [JsonPropertyName("token_accuracy")] public double? TokenAccuracy { get; init; }
    /// <summary>Share of pieces reconstructed exactly (paper layout only).</summary>
    [JsonPropertyName("exact_match")] public double? ExactMatch { get; init; }
    /// <summary>Output tokens per second after the prefill (all rows together), by case: "P" is batch 1 after a P-token prompt, "PxB" batch B.</summary>
    [JsonPropertyName("output_tokens_per_s")] public Dictionary<string, double> OutputTokensPerS { get; init; } = new();
    /// <summary>Prompt tokens actually used, by requested prompt length.</summary>
    [JsonPropertyName("prompt_tokens")] public Dictionary<string, int> PromptTokens { get; init; } = new();
    /// <summary>Prompt tokens per second processed in one prefill.</summary>
    [JsonPropertyName("prefill_tokens_per_s")] public double PrefillTokensPerS { get; set; }
    /// <summary>KV-cache bytes allocated per context token, by prompt length.</summary>
    [JsonPropertyName("kv_bytes_per_token")] public Dictionary<string, double> KvBytesPerToken { get; init; } = new();
    /// <summary>KV-cache bytes per context token as computed from the shapes.</summary>
    [JsonPropertyName("kv_bytes_per_token_analytic")] public double KvBytesPerTokenAnalytic { get; init; }
    /// <summary>Process working-set growth during the run, by prompt length.</summary>
    [JsonPropertyName("memory_growth_bytes")] public Dictionary<string, long> MemoryGrowthBytes { get; init; } = new();
    /// <summary>
    /// A sentence-level model's engine by case (last timed run): milliseconds per step by part (decoder,
    /// encoder, backbone, stop_and_memory — the last three only in steps that ran the per-piece work,
    /// spread over all steps), the share of row-iterations spent waiting, and per-piece calls per step.
    /// </summary>
    [JsonPropertyName("engine_profile")] public Dictionary<string, Dictionary<string, double>> EngineProfile { get; init; } = new();
    /// <summary>Seconds of one-time work by case (the engine packing its kernels' weights, first calls), done before its first timed run.</summary>
    [JsonPropertyName("warm_up_s")] public Dictionary<string, double> WarmUpSeconds { get; init; } = new();
    /// <summary>This model against the baseline (null for the baseline).</summary>
    [JsonPropertyName("ratios")] public BenchmarkRatios? Ratios { get; set; }
}
