using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;

namespace SentenceVae.Serving;

/// <summary>A token-level OPT model served token by token: one update per token.</summary>
public sealed class ServedTokenModel : ServedModel
{
    private readonly OptForCausalLm model;
    private readonly TokenGenerator generator;

    /// <summary>Serves <paramref name="model"/> under <paramref name="name"/> (the service disposes it).</summary>
    public ServedTokenModel(string name, OptForCausalLm model, ITextTokenizer tokenizer) : base(name, tokenizer)
    {
        this.model = model;
        generator = new TokenGenerator(model, tokenizer);
    }

    /// <inheritdoc/>
    public override string Kind => "opt";
    /// <inheritdoc/>
    public override int MaxPositions => model.Config.MaxPositionEmbeddings;

    // Positions: BOS + prompt + max_tokens − 1 (the last token written is never read back).
    internal override ServedRow Prepare(CompletionRequest request, int defaultMaxTokens, CancellationToken cancel)
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
        return new ServedRow(request, this, ids, promptTokens, maxTokens, cancel);
    }

    internal override bool Fits(IReadOnlyList<ServedRow> batch, ServedRow candidate)
    {
        var rows = batch.Append(candidate);
        return rows.Max(r => ((int[])r.Prompt).Length) + rows.Max(r => r.MaxTokens) - 1 <= MaxPositions;
    }

    internal override void Run(IReadOnlyList<ServedRow> batch)
    {
        var options = batch.Select(r => new GenerationOptions
        {
            MaxNewTokens = r.MaxTokens, Temperature = r.Request.Temperature, TopP = r.Request.TopP, TopK = r.Request.TopK, Seed = r.Request.Seed,
        }).ToList();
        var decoders = batch.Select(_ => new IncrementalDecoder(Tokenizer)).ToList();
        foreach (var step in generator.Steps(batch.Select(r => (int[])r.Prompt).ToList(), options, row => batch[row].Halted))
            foreach (var (row, id) in step)
            {
                if (id == TokenGenerator.Failed) batch[row].Fail(RowFailed());
                else if (id == Tokenizer.EosId) batch[row].End(FinishReason.Stop);
                else batch[row].Add(decoders[row].Add(id), 1);
            }
        foreach (var row in batch) row.End(FinishReason.Length);
    }

    /// <inheritdoc/>
    public override void Dispose() => model.Dispose();
}
