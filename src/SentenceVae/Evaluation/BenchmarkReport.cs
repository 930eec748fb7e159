using System.Text.Json.Serialization;

namespace SentenceVae.Evaluation;

/// <summary>A benchmark run: the machine, the settings and one entry per model.</summary>
public sealed record BenchmarkReport(
    [property: JsonPropertyName("machine")] Dictionary<string, object> Machine,
    [property: JsonPropertyName("settings")] Dictionary<string, object> Settings,
    [property: JsonPropertyName("models")] List<BenchmarkModel> Models);
