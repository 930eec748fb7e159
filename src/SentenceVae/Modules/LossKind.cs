using System.Text.Json.Serialization;

namespace SentenceVae.Modules;

/// <summary>The training loss: cross entropy (what bits per byte measures) or the paper's focal loss.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LossKind>))]
public enum LossKind
{
    /// <summary>The paper's focal loss (γ = focal_gamma).</summary>
    [JsonStringEnumMemberName("focal")] Focal,
    /// <summary>Cross entropy.</summary>
    [JsonStringEnumMemberName("ce")] CrossEntropy,
}
