using System.Text.Json;
using System.Text.Json.Serialization;

namespace SentenceVae.Modules;

/// <summary>
/// Hyper-parameters of a SentenceVAE (Sentence Encoder + Sentence Decoder), with the reference
/// implementation's names, serialised as a model directory's <c>config.json</c>.
/// </summary>
public sealed record SentenceVaeConfig
{
    /// <summary>Always "sentence_vae".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "sentence_vae";
    /// <summary>Width of the sentence vector and of every layer.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    /// <summary>Token ids.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 50272;
    /// <summary>Attention heads per layer.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    /// <summary>Layers of the encoder and, separately, of the decoder (the paper's H1/H2/H4).</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 1;
    /// <summary>Layers of the Sentence Decoder when it differs from the encoder's num_hidden_layers; null: the same.</summary>
    [JsonPropertyName("decoder_layers")] public int? DecoderLayers { get; init; }
    /// <summary>Pool by a learned weighting ("learnable add", key <c>encoder.la</c>) instead of a plain sum.</summary>
    [JsonPropertyName("learnable_add")] public bool LearnableAdd { get; init; }
    /// <summary>Token embedding width; when it differs from <see cref="HiddenSize"/>, <c>project_in</c> exists.</summary>
    [JsonPropertyName("word_embed_proj_dim")] public int? WordEmbedProjDim { get; init; }
    /// <summary>Longest piece in tokens, BOS included; decoding never emits more than this many tokens.</summary>
    [JsonPropertyName("max_seq_len")] public int MaxSeqLen { get; init; } = 64;
    /// <summary>FFN width; the reference fixes it at 2 × hidden.</summary>
    [JsonPropertyName("ffn_dim")] public int? FfnDim { get; init; }
    /// <summary>Dropout inside the layers while training.</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;
    /// <summary>
    /// How text is cut into this model's pieces: true puts the whitespace after a cut at the start of
    /// the next piece (pieces then tokenize as the whole text does); false, the paper-compatible default,
    /// leaves it at the end of the previous piece. See <see cref="Text.SplitterOptions.LeadingWhitespace"/>.
    /// </summary>
    [JsonPropertyName("leading_whitespace")] public bool LeadingWhitespace { get; init; }
    /// <summary>
    /// One token matrix for the encoder's and decoder's embeddings and the decoder's output layer
    /// (<c>decoder.linear.weight</c>); needs word_embed_proj_dim = hidden_size. The matrix starts at
    /// N(0, 1/hidden) so the first logits have unit scale, and embeddings are multiplied by √hidden on
    /// the way in, so tokens weigh as much as the sinusoidal positions added to them (as in the
    /// original Transformer). False: the reference's three matrices.
    /// </summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    /// <summary>With tied embeddings: multiply input embeddings by √hidden (true, the default). False only reproduces early ablations that lacked the scale.</summary>
    [JsonPropertyName("scale_embeddings")] public bool ScaleEmbeddings { get; init; } = true;
    /// <summary>The factor token embeddings are multiplied by on the way in.</summary>
    [JsonIgnore] public double EmbedScale => TieWordEmbeddings && ScaleEmbeddings ? Math.Sqrt(HiddenSize) : 1.0;
    /// <summary>Id that starts every piece.</summary>
    [JsonPropertyName("bos_id")] public int BosId { get; init; } = 2;
    /// <summary>Padding id.</summary>
    [JsonPropertyName("pad_id")] public int PadId { get; init; } = 1;
    /// <summary>Id the decoder writes after a piece.</summary>
    [JsonPropertyName("eos_id")] public int EosId { get; init; } = 2;

    /// <summary>Width of the token embedding.</summary>
    [JsonIgnore] public int EmbedDim => WordEmbedProjDim ?? HiddenSize;
    /// <summary>Layers of the Sentence Decoder.</summary>
    [JsonIgnore] public int NumDecoderLayers => DecoderLayers ?? NumHiddenLayers;
    /// <summary>Feed-forward width.</summary>
    [JsonIgnore] public int Ffn => FfnDim ?? 2 * HiddenSize;
    /// <summary>Keys that alias <c>encoder.embed_token.weight</c> when the embeddings are tied (left out of saved weights).</summary>
    [JsonIgnore] public IReadOnlyList<string> TiedKeys => TieWordEmbeddings ? ["decoder.embed_token.weight", "decoder.linear.weight"] : [];

    /// <summary>
    /// The lossless splitter for this SentenceVAE and its tokenizer: pieces of at most max_seq_len − 1 tokens
    /// (BOS takes one position). The one rule every model's text goes through: training, evaluation,
    /// generation and the CLI.
    /// </summary>
    public Text.SentenceSplitter Splitter(Text.ITextTokenizer tokenizer)
    {
        int budget = MaxSeqLen - 1;
        if (budget < 8) throw new InvalidDataException($"max_seq_len {MaxSeqLen} is too small: pieces need a budget of at least 8 tokens + BOS");
        return new Text.SentenceSplitter(new Text.SplitterOptions { MaxTokens = budget, CountTokens = tokenizer.CountTokens, LeadingWhitespace = LeadingWhitespace });
    }

    /// <summary>Checks the values; throws <see cref="InvalidDataException"/> listing every problem.</summary>
    public SentenceVaeConfig Validate()
    {
        var problems = new List<string>();
        foreach (var (name, value) in new[] { ("hidden_size", HiddenSize), ("vocab_size", VocabSize), ("num_attention_heads", NumAttentionHeads),
                     ("num_hidden_layers", NumHiddenLayers), ("decoder_layers", NumDecoderLayers), ("max_seq_len", MaxSeqLen), ("word_embed_proj_dim", EmbedDim), ("ffn_dim", Ffn) })
            if (value <= 0) problems.Add($"{name} must be positive (is {value})");
        problems.AddRange(ModelSizes.CapProblems(("vocab_size", VocabSize, ModelSizes.MaxVocabulary), ("hidden_size", HiddenSize, ModelSizes.MaxWidth),
            ("word_embed_proj_dim", EmbedDim, ModelSizes.MaxWidth), ("num_hidden_layers", NumHiddenLayers, ModelSizes.MaxLayers), ("decoder_layers", NumDecoderLayers, ModelSizes.MaxLayers),
            ("ffn_dim", Ffn, ModelSizes.MaxFfn), ("num_attention_heads", NumAttentionHeads, ModelSizes.MaxWidth), ("max_seq_len", MaxSeqLen, ModelSizes.MaxPositions)));
        if (problems.Count == 0 && ModelSizes.MemoryProblem($"its {ModelSizes.Parameters(this):N0} parameters", ModelSizes.Parameters(this) * 4) is { } memory) problems.Add(memory);
        if (HiddenSize % 2 != 0) problems.Add($"hidden_size {HiddenSize} must be even (sinusoidal positions)");
        if (NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads != 0) problems.Add($"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        foreach (var (name, id) in new[] { ("bos_id", BosId), ("pad_id", PadId), ("eos_id", EosId) })
            if (id < 0 || id >= VocabSize) problems.Add($"{name} {id} is outside the vocabulary [0, {VocabSize})");
        if (TieWordEmbeddings && EmbedDim != HiddenSize) problems.Add($"tie_word_embeddings needs word_embed_proj_dim {EmbedDim} = hidden_size {HiddenSize}");
        if (Dropout is < 0 or >= 1) problems.Add($"dropout {Dropout} must be in [0, 1)");
        if (problems.Count > 0) throw new InvalidDataException("invalid SentenceVAE config: " + string.Join("; ", problems));
        return this;
    }

    /// <summary>Reads and validates a config.json.</summary>
    public static SentenceVaeConfig Load(string path) => JsonFile.Load<SentenceVaeConfig>(path, c => c.Validate());

    /// <summary>Writes the config as JSON (the reference's names).</summary>
    public void Save(string path) => JsonFile.Save(this, path);
}
