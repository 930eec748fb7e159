using System.Text.Json.Serialization;

namespace SentenceVae.Training;

/// <summary>The training loss: cross entropy (what bits per byte measures) or the paper's focal loss.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LossKind>))]
public enum LossKind
{
    [JsonStringEnumMemberName("focal")] Focal,
    [JsonStringEnumMemberName("ce")] CrossEntropy,
}
