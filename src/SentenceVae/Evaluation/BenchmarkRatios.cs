using System.Text.Json.Serialization;

namespace SentenceVae.Evaluation;

/// <summary>A model against the baseline: throughput and KV ratios by prompt length (medians of interleaved repetitions) and the bits-per-byte ratio.</summary>
public sealed record BenchmarkRatios(
    [property: JsonPropertyName("throughput")] Dictionary<string, double> Throughput,
    [property: JsonPropertyName("kv")] Dictionary<string, double> Kv,
    [property: JsonPropertyName("bpb")] double Bpb);
