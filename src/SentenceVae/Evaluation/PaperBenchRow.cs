using System.Text.Json.Serialization;

namespace SentenceVae.Evaluation;

/// <summary>One measured pair of the paper-size benchmark.</summary>
public sealed record PaperBenchRow
{
    /// <summary>"125m", "350m" or "1.3b".</summary>
    [JsonPropertyName("size")] public required string Size { get; init; }
    /// <summary>Sentence Encoder and Decoder layers.</summary>
    [JsonPropertyName("h")] public int H { get; init; }
    /// <summary>Rows generated together.</summary>
    [JsonPropertyName("batch")] public int Batch { get; init; }
    /// <summary>Context before the timed output, in tokens (capped by the positions).</summary>
    [JsonPropertyName("prompt_tokens")] public int PromptTokens { get; init; }
    /// <summary>The Sentence Decoder's vocabulary.</summary>
    [JsonPropertyName("decoder_vocab")] public int DecoderVocab { get; init; }
    /// <summary>Output tokens per second of the token model (all rows).</summary>
    [JsonPropertyName("baseline_tokens_per_s")] public double BaselineTokensPerS { get; init; }
    /// <summary>Output tokens per second of the sentence-level model (all rows).</summary>
    [JsonPropertyName("sllm_tokens_per_s")] public double SllmTokensPerS { get; init; }
    /// <summary>Median of per-repetition ratios SLLM / baseline.</summary>
    [JsonPropertyName("speed_ratio")] public double SpeedRatio { get; init; }
    /// <summary>The token model's step (ms).</summary>
    [JsonPropertyName("baseline_step_ms")] public double BaselineStepMs { get; init; }
    /// <summary>Its weight-streaming bound: weight bytes ÷ the plain read's bandwidth (ms, at the median bandwidth).</summary>
    [JsonPropertyName("baseline_bound_ms")] public double BaselineBoundMs { get; init; }
    /// <summary>The step ÷ its bound, median of per-run ratios (each run against the read timed beside it).</summary>
    [JsonPropertyName("baseline_step_vs_bound")] public double BaselineVsBound { get; init; }
    /// <summary>Each step (baseline, sllm_token, sllm_piece) ÷ the bound of its weights in fp32 — for half-size weights, how far below any fp32 engine's bound.</summary>
    [JsonPropertyName("step_vs_fp32_bound")] public Dictionary<string, double> VsFp32Bound { get; init; } = new();
    /// <summary>Bandwidth of a plain read of memory, median over the runs (GB/s).</summary>
    [JsonPropertyName("read_gb_per_s")] public double ReadGBPerS { get; init; }
    /// <summary>The Sentence Decoder's per-token step (ms).</summary>
    [JsonPropertyName("sllm_token_step_ms")] public double SllmTokenStepMs { get; init; }
    /// <summary>Its weight-streaming bound (ms).</summary>
    [JsonPropertyName("sllm_token_bound_ms")] public double SllmTokenBoundMs { get; init; }
    /// <summary>The decoder step ÷ its bound (median of per-run ratios).</summary>
    [JsonPropertyName("sllm_token_step_vs_bound")] public double SllmTokenVsBound { get; init; }
    /// <summary>The per-piece part (stop head, encoder, backbone) per piece (ms).</summary>
    [JsonPropertyName("sllm_piece_step_ms")] public double SllmPieceStepMs { get; init; }
    /// <summary>Its weight-streaming bound: encoder + backbone bytes ÷ bandwidth (ms).</summary>
    [JsonPropertyName("sllm_piece_bound_ms")] public double SllmPieceBoundMs { get; init; }
    /// <summary>The piece step ÷ its bound (median of per-run ratios).</summary>
    [JsonPropertyName("sllm_piece_step_vs_bound")] public double SllmPieceVsBound { get; init; }
    /// <summary>KV bytes per context token, SLLM ÷ baseline.</summary>
    [JsonPropertyName("kv_ratio")] public double KvRatio { get; init; }
    /// <summary>Parameters of the token model.</summary>
    [JsonPropertyName("baseline_params")] public long BaselineParams { get; init; }
    /// <summary>Parameters of the sentence-level model.</summary>
    [JsonPropertyName("sllm_params")] public long SllmParams { get; init; }
    /// <summary>Where an SLLM piece's time goes (ms per piece, batch as given): stop, decoder, encoder, backbone.</summary>
    [JsonPropertyName("sllm_profile_ms")] public Dictionary<string, double> SllmProfileMs { get; init; } = new();
    /// <summary>Process working set after the measurement (bytes).</summary>
    [JsonPropertyName("process_bytes")] public long ProcessBytes { get; init; }
    /// <summary>How the vocabulary projections are computed: "libtorch", or the decode kernel with "fp32" / "bf16" weights.</summary>
    [JsonPropertyName("weights")] public string Weights { get; init; } = "libtorch";
    /// <summary>Seconds of one-time work before the first timed run (both engines: weights packed, first calls, timings settled).</summary>
    [JsonPropertyName("warm_up_s")] public double WarmUpSeconds { get; init; }
}
