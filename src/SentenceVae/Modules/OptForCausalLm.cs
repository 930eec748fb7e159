using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>Hugging Face <c>OPTModel</c>: just holds the decoder, so keys read <c>model.decoder.*</c>.</summary>
public sealed class OptModel : nn.Module
{
    private readonly OptDecoder decoder;

    /// <summary>The OPT model for <paramref name="config"/>.</summary>
    public OptModel(OptConfig config) : base(nameof(OptModel))
    {
        decoder = new OptDecoder(config);
        RegisterComponents();
    }

    /// <summary>The decoder stack.</summary>
    public OptDecoder Decoder => decoder;
}

/// <summary>OPT with its language-model head (Hugging Face <c>OPTForCausalLM</c>); the head is tied to the token embedding.</summary>
public sealed class OptForCausalLm : nn.Module
{
    private readonly OptModel model;
    private readonly Linear lm_head;

    /// <summary>A new model, initialised as Hugging Face does, the head tied when the config says so.</summary>
    public OptForCausalLm(OptConfig config) : base(nameof(OptForCausalLm))
    {
        Config = config.Validate();
        model = new OptModel(config);
        lm_head = nn.Linear(config.EmbedDim, config.VocabSize, hasBias: false);
        RegisterComponents();
        InitWeights();
        if (config.TieWordEmbeddings) TieWeights();
    }

    /// <summary>As Hugging Face's OPTPreTrainedModel: linear and embedding weights ~ N(0, init_std), biases 0, the padding row 0.</summary>
    public void InitWeights()
    {
        OptLayers.Init(this, Config.InitStd);
        using var noGrad = no_grad();
        Decoder.EmbedTokens.weight![Config.PadTokenId].zero_();
    }

    /// <summary>The model's shape.</summary>
    public OptConfig Config { get; }
    /// <summary>The decoder stack (model.decoder).</summary>
    public OptDecoder Decoder => model.Decoder;

    /// <summary>The LM head shares the token embedding's weight (one Parameter, two names).</summary>
    public void TieWeights() => lm_head.weight = model.Decoder.EmbedTokens.weight!;

    /// <param name="inputIds">(B, T)</param>
    /// <param name="attentionMask">(B, past+T), 1 real / 0 padding</param>
    /// <returns>logits (B, T, V)</returns>
    /// <param name="cache">the KV cache to read and append to (null: no cache)</param>
    public Tensor forward(Tensor inputIds, Tensor attentionMask, KvCache? cache = null) =>
        lm_head.forward(model.Decoder.forward(inputIds, attentionMask, cache));

    /// <summary>As <see cref="forward(Tensor, Tensor, KvCache?)"/>, through a decoding loop's <paramref name="head"/> (see <see cref="NewDecodingHead"/>).</summary>
    public Tensor forward(Tensor inputIds, Tensor attentionMask, KvCache? cache, DecodingHead head) =>
        head.Logits(model.Decoder.forward(inputIds, attentionMask, cache));

    /// <summary>One token (n, 1) for each row of a decoding engine, each at its own position: logits (n, V) through the engine's <paramref name="head"/>.</summary>
    public Tensor Step(Tensor inputIds, SlotKvCache.SlotStep step, DecodingHead head) =>
        head.Logits(model.Decoder.Step(inputIds, step)).squeeze(1);

    /// <summary>The LM head as a decoding loop's <see cref="DecodingHead"/> (a transposed copy of the weights).</summary>
    public DecodingHead NewDecodingHead() => new(lm_head.weight!, lm_head.bias);

    /// <summary>A decoding engine's cache: <paramref name="slots"/> rows of <paramref name="positions"/> positions each, kept in <paramref name="dtype"/> (float32 when not given).</summary>
    public SlotKvCache NewSlotCache(int slots, int positions, Device device, ScalarType dtype = ScalarType.Float32) =>
        new(Decoder.NumLayers, slots, Config.NumAttentionHeads, positions, Config.HeadDim, dtype, device);

    /// <summary>An empty KV cache for incremental decoding.</summary>
    public KvCache NewCache() => new(Decoder.NumLayers);

    /// <summary>Parameters, the tied LM head counted once; without the position table when <paramref name="nonEmbedding"/>.</summary>
    public long ParameterCount(bool nonEmbedding = false) => named_parameters()
        .Where(p => !(Config.TieWordEmbeddings && p.name == "lm_head.weight"))
        .Where(p => !(nonEmbedding && p.name.EndsWith("embed_positions.weight", StringComparison.Ordinal)))
        .Sum(p => p.parameter.numel());
}
