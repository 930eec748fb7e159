using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Serving;

/// <summary>A token-level OPT model served token by token: one update per token.</summary>
public sealed class ServedTokenModel : ServedModel
{
    private readonly OptForCausalLm model;
    private readonly TokenGenerator generator;

    /// <summary>Serves <paramref name="model"/> under <paramref name="name"/> (the service disposes it); <paramref name="weights"/>: its decode steps through the decode kernels in that format.</summary>
    public ServedTokenModel(string name, OptForCausalLm model, ITextTokenizer tokenizer, WeightFormat? weights = null) : base(name, tokenizer)
    {
        this.model = model;
        generator = new TokenGenerator(model, tokenizer) { Weights = weights };
    }

    /// <inheritdoc/>
    public override ModelKind Kind => ModelKind.TokenModel;
    /// <inheritdoc/>
    public override int MaxPositions => model.Config.MaxPositionEmbeddings;

    // Positions: BOS + prompt + max_tokens − 1 (the last token written is never read back).
    internal override (DecodeRow Row, int PromptTokens) Read(CompletionRequest request, int defaultMaxTokens, CancellationToken cancel)
    {
        var ids = generator.PromptIds(request.Prompt);
        int promptTokens = ids.Length - 1, room = MaxPositions - promptTokens;
        if (room < 1)
            throw ServingException.Invalid($"the prompt has {promptTokens} tokens but model '{Name}' holds {MaxPositions} positions (BOS + prompt + max_tokens − 1 must fit)",
                "prompt", "context_length_exceeded");
        int maxTokens = request.MaxTokens ?? Math.Min(defaultMaxTokens, room);
        if (maxTokens > room)
            throw ServingException.Invalid($"the prompt's {promptTokens} tokens + max_tokens {maxTokens} exceed model '{Name}''s {MaxPositions} positions: at most {room} new tokens",
                "max_tokens", "context_length_exceeded");
        return (new TokenRow(ids) { Sampling = request.RowSampling(), MaxTokens = maxTokens }, promptTokens);
    }

    internal override IDecodeEngine NewEngine(int capacity) => generator.NewEngine(capacity);

    internal override string Text(ServedRow row, int[] ids) => (row.Text ??= new IncrementalDecoder(Tokenizer)).Add(ids[0]);

    /// <inheritdoc/>
    public override void Dispose() => model.Dispose();
}
