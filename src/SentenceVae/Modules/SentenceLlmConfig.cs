using System.Text.Json;
using System.Text.Json.Serialization;

namespace SentenceVae.Modules;

/// <summary>
/// A sentence-level LLM: the SentenceVAE that turns pieces into vectors and back, and the OPT-style
/// backbone that runs over the vectors (only its positions and layers are used: the sentence vectors
/// replace token embeddings). The backbone's hidden size must equal the SentenceVAE's.
/// </summary>
public sealed record SentenceLlmConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "sentence_llm";
    [JsonPropertyName("svae")] public SentenceVaeConfig Svae { get; init; } = new();
    [JsonPropertyName("backbone")] public OptConfig Backbone { get; init; } = new();
    /// <summary>
    /// Prepend a learned start vector so the first piece of a document is predicted too (every byte
    /// scored). False reproduces the reference SLLM, whose first piece is context only.
    /// </summary>
    [JsonPropertyName("use_start_vector")] public bool UseStartVector { get; init; } = true;

    /// <summary>
    /// Where the SentenceVAE's weights live when they are not in this directory's weights file: a
    /// SentenceVAE model directory, relative to this model's directory (a frozen SentenceVAE is shipped once).
    /// </summary>
    [JsonPropertyName("svae_path")] public string? SvaePath { get; init; }

    /// <summary>Most positions (start vector included) the backbone can take.</summary>
    [JsonIgnore] public int MaxPositions => Backbone.MaxPositionEmbeddings;

    public SentenceLlmConfig Validate()
    {
        Svae.Validate();
        Backbone.Validate();
        if (Backbone.HiddenSize != Svae.HiddenSize)
            throw new InvalidDataException($"invalid SentenceLLM config: backbone hidden_size {Backbone.HiddenSize} differs from the SentenceVAE's {Svae.HiddenSize}");
        return this;
    }

    public static SentenceLlmConfig Load(string path) => JsonFile.Load<SentenceLlmConfig>(path).Validate();

    public void Save(string path) => JsonFile.Save(this, path);
}
