using System.Diagnostics;
using System.Text.Json.Serialization;
using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Evaluation;

/// <summary>A benchmark run: the machine, the settings and one entry per model.</summary>
public sealed record BenchmarkReport(
    [property: JsonPropertyName("machine")] Dictionary<string, object> Machine,
    [property: JsonPropertyName("settings")] Dictionary<string, object> Settings,
    [property: JsonPropertyName("models")] List<BenchmarkModel> Models);
