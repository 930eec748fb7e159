using System.Text.Json.Serialization;
using SentenceVae.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Checkpoints;

/// <summary>Which of a token model's weights a converted sentence-level model starts from.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ConversionMapping>))]
public enum ConversionMapping
{
    /// <summary>
    /// The parent's decoder layers and positions become the backbone, its final layer norm the backbone's,
    /// and its token embedding (= its tied head) the Sentence Encoder's and Decoder's tied embedding and head.
    /// The Sentence Encoder and Decoder layers start fresh.
    /// </summary>
    [JsonStringEnumMemberName("backbone")] Backbone,
    /// <summary>
    /// <see cref="Backbone"/>, and the Sentence Encoder's layers start from the parent's first layers and
    /// the Sentence Decoder's self-attention and feed-forward from its last layers (their cross-attention fresh).
    /// </summary>
    [JsonStringEnumMemberName("all_layers")] AllLayers,
}

/// <summary>
/// The paper's recipe: a sentence-level LLM made from a trained token LLM (OPT layout: ours or Hugging Face's).
/// Every weight is mapped by its checkpoint key; shapes that cannot take the parent's weights are one
/// error naming the config key.
/// </summary>
public static class TokenModelConversion
{
    private const string Decoder = "model.decoder.";

    /// <summary>
    /// The sentence-level model a token model converts into by default: the parent's config as the
    /// backbone; a one-layer SentenceVAE of the parent's embedding width, vocabulary, heads and FFN width,
    /// tied and scaled embeddings; k = 4 memory vectors and the previous piece as the decoder's memory
    /// (the shipped end-to-end layout).
    /// </summary>
    public static SentenceLlmConfig DefaultConfig(OptConfig parent) => new SentenceLlmConfig
    {
        Svae = new SentenceVaeConfig
        {
            HiddenSize = parent.EmbedDim,
            VocabSize = parent.VocabSize,
            NumAttentionHeads = parent.EmbedDim == parent.HiddenSize ? parent.NumAttentionHeads : Math.Max(1, parent.EmbedDim / 64),
            NumHiddenLayers = 1,
            WordEmbedProjDim = parent.EmbedDim,
            FfnDim = parent.EmbedDim == parent.HiddenSize ? parent.FfnDim : 4 * parent.EmbedDim,
            Dropout = parent.Dropout,
            LeadingWhitespace = true,
            TieWordEmbeddings = true,
            BosId = parent.BosTokenId,
            PadId = parent.PadTokenId,
            EosId = parent.EosTokenId,
        },
        Backbone = parent with { TrainedContext = null },
        UseStartVector = true,
        MemoryVectors = 4,
        ReadPreviousPiece = true,
    }.Validate();

    /// <summary>Every way <paramref name="config"/> cannot take <paramref name="parent"/>'s weights under <paramref name="mapping"/>, each naming its key.</summary>
    public static List<string> Problems(OptConfig parent, SentenceLlmConfig config, ConversionMapping mapping)
    {
        var problems = new List<string>();
        void Same<T>(string key, T ours, T theirs)
        {
            if (!EqualityComparer<T>.Default.Equals(ours, theirs)) problems.Add($"{key} is {ours} but the token model's is {theirs}");
        }
        var b = config.Backbone;
        Same("backbone.hidden_size", b.HiddenSize, parent.HiddenSize);
        Same("backbone.num_hidden_layers", b.NumHiddenLayers, parent.NumHiddenLayers);
        Same("backbone.ffn_dim", b.FfnDim, parent.FfnDim);
        Same("backbone.num_attention_heads", b.NumAttentionHeads, parent.NumAttentionHeads);
        Same("backbone.max_position_embeddings", b.MaxPositionEmbeddings, parent.MaxPositionEmbeddings);
        Same("backbone.do_layer_norm_before", b.DoLayerNormBefore, parent.DoLayerNormBefore);
        Same("backbone.enable_bias", b.EnableBias, parent.EnableBias);
        Same("backbone.layer_norm_elementwise_affine", b.LayerNormElementwiseAffine, parent.LayerNormElementwiseAffine);
        Same("backbone.activation_function", b.ActivationFunction, parent.ActivationFunction);
        Same("backbone._remove_final_layer_norm", b.RemoveFinalLayerNorm, parent.RemoveFinalLayerNorm);
        var s = config.Svae;
        Same("svae.vocab_size", s.VocabSize, parent.VocabSize);
        Same("svae.word_embed_proj_dim", s.EmbedDim, parent.EmbedDim);
        Same("svae.bos_id", s.BosId, parent.BosTokenId);
        Same("svae.eos_id", s.EosId, parent.EosTokenId);
        Same("svae.pad_id", s.PadId, parent.PadTokenId);
        if (parent.TieWordEmbeddings != s.TieWordEmbeddings) problems.Add($"svae.tie_word_embeddings is {s.TieWordEmbeddings} but the token model's tie_word_embeddings is {parent.TieWordEmbeddings}");
        if (mapping == ConversionMapping.AllLayers)
        {
            Same("svae.hidden_size", s.HiddenSize, parent.HiddenSize);
            Same("svae.ffn_dim", s.Ffn, parent.FfnDim);
            if (s.NumHiddenLayers > parent.NumHiddenLayers) problems.Add($"svae.num_hidden_layers is {s.NumHiddenLayers} but the token model has only {parent.NumHiddenLayers} layers");
            if (s.NumDecoderLayers > parent.NumHiddenLayers) problems.Add($"svae.decoder_layers is {s.NumDecoderLayers} but the token model has only {parent.NumHiddenLayers} layers");
            if (parent.ActivationFunction != "relu") problems.Add($"all_layers needs a relu token model (the Sentence Encoder/Decoder layers use relu); its activation_function is {parent.ActivationFunction}");
        }
        return problems;
    }

    /// <summary>
    /// The sentence-level model's state-dict entries that come from the parent's (keys as <see cref="SentenceLlm"/>'s),
    /// under <paramref name="mapping"/>. Throws <see cref="InvalidDataException"/> naming every mismatched key.
    /// </summary>
    public static Dictionary<string, Tensor> Map(IReadOnlyDictionary<string, Tensor> parent, OptConfig parentConfig, SentenceLlmConfig config, ConversionMapping mapping)
    {
        if (Problems(parentConfig, config, mapping) is { Count: > 0 } problems)
            throw new InvalidDataException("the token model cannot be converted into this sentence-level model: " + string.Join("; ", problems));
        Tensor From(string key) => parent.TryGetValue(Decoder + key, out var t) ? t : throw new InvalidDataException($"the token model has no tensor {Decoder}{key}");
        var mapped = new Dictionary<string, Tensor>
        {
            ["llm_pe.weight"] = From("embed_positions.weight"),
            ["svae.encoder.embed_token.weight"] = From("embed_tokens.weight"),
        };
        foreach (var (key, value) in parent)
            if (key.StartsWith(Decoder + "layers.", StringComparison.Ordinal)) mapped["llm_layers." + key[(Decoder.Length + "layers.".Length)..]] = value;
        if (config.Projected && parentConfig.HasFinalLayerNorm && parentConfig.LayerNormElementwiseAffine)
            foreach (var p in new[] { "weight", "bias" }) mapped["final_layer_norm." + p] = From("final_layer_norm." + p);
        if (mapping != ConversionMapping.AllLayers) return mapped;

        // The Sentence Encoder's layers take the parent's first layers (they read tokens, as those did); the
        // decoder's self-attention and FFN its last ones (they lead to the head, as those did).
        var s = config.Svae;
        for (int i = 0; i < s.NumHiddenLayers; i++)
            MapLayer(mapped, From, i, $"svae.encoder.encoder.layers.{i}.", "norm2", parentConfig.EnableBias, parentConfig.LayerNormElementwiseAffine);
        for (int i = 0; i < s.NumDecoderLayers; i++)
            MapLayer(mapped, From, parentConfig.NumHiddenLayers - s.NumDecoderLayers + i, $"svae.decoder.decoder.layers.{i}.", "norm3", parentConfig.EnableBias, parentConfig.LayerNormElementwiseAffine);
        return mapped;
    }

    /// <summary>One OPT layer's self-attention (q, k, v stacked as PyTorch's in_proj), FFN and their norms into a Sentence Encoder/Decoder layer.</summary>
    private static void MapLayer(Dictionary<string, Tensor> mapped, Func<string, Tensor> from, int parentLayer, string prefix, string ffnNorm, bool bias, bool affine)
    {
        string l = $"layers.{parentLayer}.";
        mapped[prefix + "self_attn.in_proj_weight"] = cat([from(l + "self_attn.q_proj.weight"), from(l + "self_attn.k_proj.weight"), from(l + "self_attn.v_proj.weight")], 0);
        mapped[prefix + "self_attn.out_proj.weight"] = from(l + "self_attn.out_proj.weight");
        mapped[prefix + "linear1.weight"] = from(l + "fc1.weight");
        mapped[prefix + "linear2.weight"] = from(l + "fc2.weight");
        if (bias)
        {
            mapped[prefix + "self_attn.in_proj_bias"] = cat([from(l + "self_attn.q_proj.bias"), from(l + "self_attn.k_proj.bias"), from(l + "self_attn.v_proj.bias")], 0);
            mapped[prefix + "self_attn.out_proj.bias"] = from(l + "self_attn.out_proj.bias");
            mapped[prefix + "linear1.bias"] = from(l + "fc1.bias");
            mapped[prefix + "linear2.bias"] = from(l + "fc2.bias");
        }
        if (!affine) return;
        foreach (var p in new[] { "weight", "bias" })
        {
            mapped[prefix + "norm1." + p] = from(l + "self_attn_layer_norm." + p);
            mapped[prefix + ffnNorm + "." + p] = from(l + "final_layer_norm." + p);
        }
    }

    /// <summary>
    /// Copies the parent's weights into <paramref name="model"/> as <paramref name="mapping"/> says; every
    /// other weight keeps its fresh initialisation.
    /// </summary>
    public static void Apply(SentenceLlm model, OptForCausalLm parent, ConversionMapping mapping, string parentName)
    {
        using var scope = NewDisposeScope();
        var mapped = Map(parent.state_dict(), parent.Config, model.Config, mapping);
        var tied = StateDicts.TiedKeys(model);
        var keep = model.state_dict().Where(kv => !mapped.ContainsKey(kv.Key) && !tied.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        StateDicts.LoadStrict(model, mapped.Concat(keep).ToDictionary(), parentName, tied);
    }

    /// <summary>A new sentence-level model of <paramref name="config"/> that starts from the token model in <paramref name="directory"/>.</summary>
    public static SentenceLlm Convert(string directory, SentenceLlmConfig config, ConversionMapping mapping)
    {
        using var parent = HuggingFaceCheckpoint.LoadOpt(directory);
        var model = new SentenceLlm(config);
        try { Apply(model, parent, mapping, directory); }
        catch { model.Dispose(); throw; }
        return model;
    }
}
