using System.Text.Json;
using System.Text.Json.Serialization;

namespace SentenceVae.Modules;

/// <summary>
/// Hyper-parameters of an OPT decoder, with Hugging Face's <c>config.json</c> names, so a checkpoint's
/// config reads and writes as is. Sizes of the published models are in <see cref="Presets"/>.
/// </summary>
public sealed record OptConfig
{
    /// <summary>Always "opt".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "opt";
    /// <summary>Token ids.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 50272;
    /// <summary>Width of the layers.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    /// <summary>Decoder layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    /// <summary>Width of each layer's feed-forward block.</summary>
    [JsonPropertyName("ffn_dim")] public int FfnDim { get; init; } = 3072;
    /// <summary>Attention heads per layer.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    /// <summary>Most positions (tokens, or pieces in a sentence-level LLM).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    /// <summary>
    /// Tokens per sequence the model was trained on, when fewer than <see cref="MaxPositionEmbeddings"/>
    /// (positions past it never saw a gradient). Evaluation windows and generation stay inside it.
    /// </summary>
    [JsonPropertyName("trained_context")] public int? TrainedContext { get; init; }
    /// <summary>Pre-norm (true: OPT-125M/1.3B) or post-norm (false: OPT-350M).</summary>
    [JsonPropertyName("do_layer_norm_before")] public bool DoLayerNormBefore { get; init; } = true;
    /// <summary>Embedding width; when it differs from <see cref="HiddenSize"/>, project_in/project_out exist.</summary>
    [JsonPropertyName("word_embed_proj_dim")] public int? WordEmbedProjDim { get; init; }
    /// <summary>The FFN activation; only "relu" (OPT's) is supported.</summary>
    [JsonPropertyName("activation_function")] public string ActivationFunction { get; init; } = "relu";
    /// <summary>Linear layers have biases.</summary>
    [JsonPropertyName("enable_bias")] public bool EnableBias { get; init; } = true;
    /// <summary>Layer norms have a scale and shift.</summary>
    [JsonPropertyName("layer_norm_elementwise_affine")] public bool LayerNormElementwiseAffine { get; init; } = true;
    /// <summary>Drop the final layer norm of a pre-norm model (as some OPT checkpoints do).</summary>
    [JsonPropertyName("_remove_final_layer_norm")] public bool RemoveFinalLayerNorm { get; init; }
    /// <summary>Dropout on embeddings, attention outputs and FFN outputs while training.</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;
    /// <summary>Dropout on attention weights while training.</summary>
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }
    /// <summary>Standard deviation of the normal initialisation of linear and embedding weights (Hugging Face's init_std).</summary>
    [JsonPropertyName("init_std")] public double InitStd { get; init; } = 0.02;
    /// <summary>The LM head shares the token embedding's weight.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;
    /// <summary>Padding token id.</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;
    /// <summary>Beginning-of-sequence token id.</summary>
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 2;
    /// <summary>End-of-sequence token id.</summary>
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 2;

    /// <summary>Width of the token embedding (word_embed_proj_dim, else hidden_size).</summary>
    [JsonIgnore] public int EmbedDim => WordEmbedProjDim ?? HiddenSize;
    /// <summary>Width of one attention head.</summary>
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;
    /// <summary>Tokens a window may hold: the trained context, else every position.</summary>
    [JsonIgnore] public int Context => Math.Min(TrainedContext ?? MaxPositionEmbeddings, MaxPositionEmbeddings);
    /// <summary>Whether the decoder ends with final_layer_norm.</summary>
    [JsonIgnore] public bool HasFinalLayerNorm => DoLayerNormBefore && !RemoveFinalLayerNorm;

    /// <summary>Throws with every problem found, so a bad config fails before any weight is read.</summary>
    public OptConfig Validate()
    {
        var problems = new List<string>();
        if (ModelType != "opt") problems.Add($"model_type '{ModelType}' is not supported (only 'opt')");
        if (ActivationFunction != "relu") problems.Add($"activation_function '{ActivationFunction}' is not supported (only 'relu')");
        foreach (var (name, value) in new[] { ("vocab_size", VocabSize), ("hidden_size", HiddenSize), ("num_hidden_layers", NumHiddenLayers),
                     ("ffn_dim", FfnDim), ("num_attention_heads", NumAttentionHeads), ("max_position_embeddings", MaxPositionEmbeddings), ("word_embed_proj_dim", EmbedDim) })
            if (value <= 0) problems.Add($"{name} must be positive (is {value})");
        problems.AddRange(ModelSizes.CapProblems(("vocab_size", VocabSize, ModelSizes.MaxVocabulary), ("hidden_size", HiddenSize, ModelSizes.MaxWidth),
            ("word_embed_proj_dim", EmbedDim, ModelSizes.MaxWidth), ("num_hidden_layers", NumHiddenLayers, ModelSizes.MaxLayers), ("ffn_dim", FfnDim, ModelSizes.MaxFfn),
            ("num_attention_heads", NumAttentionHeads, ModelSizes.MaxWidth), ("max_position_embeddings", MaxPositionEmbeddings, ModelSizes.MaxPositions)));
        if (problems.Count == 0 && ModelSizes.MemoryProblem($"its {ModelSizes.Parameters(this):N0} parameters", ModelSizes.Parameters(this) * 4) is { } memory) problems.Add(memory);
        if (TrainedContext is { } trained && (trained < 2 || trained > MaxPositionEmbeddings)) problems.Add($"trained_context {trained} must be between 2 and max_position_embeddings {MaxPositionEmbeddings}");
        if (NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads != 0) problems.Add($"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        foreach (var (name, id) in new[] { ("pad_token_id", PadTokenId), ("bos_token_id", BosTokenId), ("eos_token_id", EosTokenId) })
            if (id < 0 || id >= VocabSize) problems.Add($"{name} {id} is outside the vocabulary [0, {VocabSize})");
        if (problems.Count > 0) throw new InvalidDataException("invalid OPT config: " + string.Join("; ", problems));
        return this;
    }

    /// <summary>Reads and validates a config.json.</summary>
    public static OptConfig Load(string path) => JsonFile.Load<OptConfig>(path, c => c.Validate());

    /// <summary>Writes the config as JSON (Hugging Face names).</summary>
    public void Save(string path) => JsonFile.Save(this, path);

    /// <summary>The published OPT shapes, and our small token-level baseline.</summary>
    public static class Presets
    {
        /// <summary>facebook/opt-125m.</summary>
        public static OptConfig Opt125M => new();
        /// <summary>facebook/opt-350m (post-norm, 512-wide embeddings projected in and out).</summary>
        public static OptConfig Opt350M => new() { HiddenSize = 1024, NumHiddenLayers = 24, FfnDim = 4096, NumAttentionHeads = 16, WordEmbedProjDim = 512, DoLayerNormBefore = false };
        /// <summary>facebook/opt-1.3b.</summary>
        public static OptConfig Opt1_3B => new() { HiddenSize = 2048, NumHiddenLayers = 24, FfnDim = 8192, NumAttentionHeads = 32 };

        /// <summary>
        /// The CPU-sized token-level baseline ("lm-256"): hidden 256, 4 layers, 4 heads, the compact
        /// 8192-id vocabulary (pad 8189, bos 8190, eos 8191), 1024 positions.
        /// </summary>
        public static OptConfig Lm256 => new()
        {
            VocabSize = 8192, HiddenSize = 256, NumHiddenLayers = 4, FfnDim = 1024, NumAttentionHeads = 4, MaxPositionEmbeddings = 1024,
            PadTokenId = 8189, BosTokenId = 8190, EosTokenId = 8191, Dropout = 0.1,
        };

        /// <summary>A preset by name: opt-125m, opt-350m, opt-1.3b or lm-256.</summary>
        public static OptConfig ByName(string name) => name.ToLowerInvariant() switch
        {
            "opt-125m" => Opt125M,
            "opt-350m" => Opt350M,
            "opt-1.3b" => Opt1_3B,
            "lm-256" => Lm256,
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "known presets: opt-125m, opt-350m, opt-1.3b, lm-256"),
        };
    }
}
