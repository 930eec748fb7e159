using System.Text.Json;
using System.Text.Json.Serialization;

namespace SentenceVae.Modules;

/// <summary>
/// A sentence-level LLM: the SentenceVAE that turns pieces into vectors and back, and the OPT-style
/// backbone that runs over the vectors (only its positions and layers are used: the sentence vectors
/// replace token embeddings). The paper's layout (one memory vector, equal widths) is the default; the
/// other options change what the Sentence Decoder reads and how wide the backbone is.
/// </summary>
public sealed record SentenceLlmConfig
{
    /// <summary>Always "sentence_llm".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "sentence_llm";
    /// <summary>The SentenceVAE (encoder and decoder) config.</summary>
    [JsonPropertyName("svae")] public SentenceVaeConfig Svae { get; init; } = new();
    /// <summary>The backbone's OPT config (its token embedding is not used).</summary>
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

    /// <summary>
    /// How many vectors the backbone's output at a piece becomes (a projection, <c>to_memory</c>) for the
    /// Sentence Decoder to cross-attend to. 1 with equal widths: the paper's layout, the output itself.
    /// </summary>
    [JsonPropertyName("memory_vectors")] public int MemoryVectors { get; init; } = 1;

    /// <summary>The Sentence Decoder also cross-attends to the encoder's token states of the piece before the one it writes (the text it continues).</summary>
    [JsonPropertyName("read_previous_piece")] public bool ReadPreviousPiece { get; init; }

    /// <summary>
    /// Pieces per window the model was trained on (start vector not counted), when fewer than the backbone's
    /// positions hold. Evaluation windows and generation stay inside it.
    /// </summary>
    [JsonPropertyName("trained_context")] public int? TrainedContext { get; init; }

    /// <summary>Training only: standard deviation of Gaussian noise added to the decoder's memory vectors (robustness to predicted vectors).</summary>
    [JsonPropertyName("vector_noise")] public double VectorNoise { get; init; }

    /// <summary>The backbone's output is normalised and projected (<c>final_layer_norm</c>, <c>to_memory</c>): more than one memory vector or a backbone of another width.</summary>
    [JsonIgnore] public bool Projected => MemoryVectors != 1 || Backbone.HiddenSize != Svae.HiddenSize;

    /// <summary>Most positions (start vector included) the backbone can take.</summary>
    [JsonIgnore] public int MaxPositions => Backbone.MaxPositionEmbeddings;

    /// <summary>Pieces a window may hold after the start vector: the trained context, else every position.</summary>
    [JsonIgnore] public int Context => Math.Min(TrainedContext ?? MaxPositions - 1, MaxPositions - 1);

    /// <summary>Checks both parts and the options; throws <see cref="InvalidDataException"/> listing every problem.</summary>
    public SentenceLlmConfig Validate()
    {
        if (Svae is null || Backbone is null) throw new InvalidDataException("invalid SentenceLLM config: \"svae\" and \"backbone\" must be objects");
        Svae.Validate();
        Backbone.Validate();
        var problems = new List<string>();
        if (MemoryVectors < 1) problems.Add($"memory_vectors must be ≥ 1 (is {MemoryVectors})");
        if (TrainedContext is { } trained && (trained < 1 || trained > MaxPositions - 1)) problems.Add($"trained_context {trained} must be between 1 and the backbone's positions less the start vector ({MaxPositions - 1})");
        if (VectorNoise < 0) problems.Add($"vector_noise must be ≥ 0 (is {VectorNoise})");
        if (problems.Count > 0) throw new InvalidDataException("invalid SentenceLLM config: " + string.Join("; ", problems));
        return this;
    }

    /// <summary>Reads and validates a config.json.</summary>
    public static SentenceLlmConfig Load(string path) => JsonFile.Load<SentenceLlmConfig>(path, c => c.Validate());

    /// <summary>Writes the config as JSON.</summary>
    public void Save(string path) => JsonFile.Save(this, path);
}
