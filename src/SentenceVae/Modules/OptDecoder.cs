using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// The OPT decoder stack (Hugging Face <c>OPTDecoder</c>): token embedding [→ project_in] + learned
/// positions → layers (<see cref="OptLayers.Run"/>, which the sentence-level LLM runs over its own
/// positions and layers) → [final_layer_norm] [→ project_out].
/// </summary>
public sealed class OptDecoder : nn.Module
{
    private readonly OptConfig config;
    private readonly Embedding embed_tokens, embed_positions;
    private readonly Linear? project_in, project_out;
    private readonly LayerNorm? final_layer_norm;
    private readonly ModuleList<OptDecoderLayer> layers;
    private readonly Dropout dropout;

    /// <summary>The decoder stack for <paramref name="config"/> (weights uninitialised; see <see cref="OptForCausalLm.InitWeights"/>).</summary>
    public OptDecoder(OptConfig config) : base(nameof(OptDecoder))
    {
        this.config = config.Validate();
        embed_tokens = nn.Embedding(config.VocabSize, config.EmbedDim, padding_idx: config.PadTokenId);
        embed_positions = nn.Embedding(config.MaxPositionEmbeddings + OptLayers.PositionOffset, config.HiddenSize);
        if (config.EmbedDim != config.HiddenSize)
        {
            project_in = nn.Linear(config.EmbedDim, config.HiddenSize, hasBias: false);
            project_out = nn.Linear(config.HiddenSize, config.EmbedDim, hasBias: false);
        }
        if (config.HasFinalLayerNorm) final_layer_norm = nn.LayerNorm(config.HiddenSize, elementwise_affine: config.LayerNormElementwiseAffine);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new OptDecoderLayer(config)).ToArray());
        dropout = nn.Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <summary>The token embedding (embed_tokens).</summary>
    public Embedding EmbedTokens => embed_tokens;
    /// <summary>Number of layers.</summary>
    public int NumLayers => layers.Count;

    /// <param name="inputIds">(B, T) token ids</param>
    /// <param name="attentionMask">(B, past+T): 1 for real positions, 0 for padding, over the cached past and these tokens</param>
    /// <returns>(B, T, word_embed_proj_dim) hidden states, ready for the tied LM head</returns>
    /// <param name="cache">the KV cache to read and append to (null: no cache)</param>
    public Tensor forward(Tensor inputIds, Tensor attentionMask, KvCache? cache = null)
    {
        var embeds = embed_tokens.forward(inputIds);                        // (B, T, E)
        if (project_in is not null) embeds = project_in.forward(embeds);    // (B, T, C)
        return project_out is null ? ForwardEmbeddings(embeds, attentionMask, cache) : project_out.forward(ForwardEmbeddings(embeds, attentionMask, cache));
    }

    /// <summary>One token (n, 1) for each row of a decoding engine, each at its own position: (n, 1, word_embed_proj_dim).</summary>
    public Tensor Step(Tensor inputIds, SlotKvCache.SlotStep step)
    {
        var embeds = embed_tokens.forward(inputIds);                        // (n, 1, E)
        if (project_in is not null) embeds = project_in.forward(embeds);    // (n, 1, C)
        var x = OptLayers.Step(embed_positions, layers, dropout, embeds, step);
        if (final_layer_norm is not null) x = final_layer_norm.forward(x);
        return project_out is null ? x : project_out.forward(x);           // (n, 1, E)
    }

    /// <summary>Positions + layers + final norm over input embeddings (B, T, C); no project_out.</summary>
    public Tensor ForwardEmbeddings(Tensor embeds, Tensor attentionMask, KvCache? cache = null)
    {
        var x = OptLayers.Run(embed_positions, layers, dropout, config.MaxPositionEmbeddings, embeds, attentionMask, cache);   // (B, T, C)
        return final_layer_norm is null ? x : final_layer_norm.forward(x); // (B, T, C)
    }
}
