using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Serving;

/// <summary>
/// A sentence-level LLM served piece by piece: one update per generated piece. Its Sentence Encoder also
/// embeds text: an input is cut into pieces as the model reads text, and its vector is the mean of the
/// pieces' sentence vectors weighted by their token counts.
/// </summary>
public sealed class ServedSentenceLlm : ServedModel
{
    private readonly SentenceLlm model;
    private readonly SentenceLlmGenerator generator;
    private readonly SentenceCodec codec;

    /// <summary>Serves <paramref name="model"/> under <paramref name="name"/> (the service disposes it).</summary>
    public ServedSentenceLlm(string name, SentenceLlm model, ITextTokenizer tokenizer) : base(name, tokenizer)
    {
        this.model = model;
        generator = new SentenceLlmGenerator(model, tokenizer);
        codec = new SentenceCodec(model.Svae);
    }

    /// <inheritdoc/>
    public override string Kind => "sentence_llm";
    /// <inheritdoc/>
    public override int MaxPositions => model.Config.MaxPositions;
    /// <inheritdoc/>
    public override bool CanEmbed => true;

    // Positions: [start vector,] one per prompt piece, one per generated piece.
    private int PromptPositions(int pieces) => NextPiecePlan.Position(pieces, model.Config.UseStartVector) + 1;

    internal override ServedRow Prepare(CompletionRequest request, int defaultMaxTokens, CancellationToken cancel)
    {
        var pieces = generator.PromptPieces(request.Prompt);
        int promptTokens = pieces.Sum(p => p.Length), needed = PromptPositions(pieces.Count);
        if (!model.Config.UseStartVector && pieces.Count == 0) throw ServingException.Invalid($"model '{Name}' has no start vector and needs a non-empty prompt", "prompt");
        if (needed >= MaxPositions)
            throw ServingException.Invalid($"the prompt has {pieces.Count} pieces ({promptTokens} tokens) but model '{Name}' holds {MaxPositions} positions: at most {MaxPositions - 1 - (needed - pieces.Count)} prompt pieces leave room for one more",
                "prompt", "context_length_exceeded");
        int room = (MaxPositions - needed) * (model.Config.Svae.MaxSeqLen - 1);     // pieces left × the longest piece
        if (request.MaxTokens > room)
            throw ServingException.Invalid($"max_tokens {request.MaxTokens} exceeds what model '{Name}' can write after this prompt: {MaxPositions - needed} pieces of at most {model.Config.Svae.MaxSeqLen - 1} tokens ({room})",
                "max_tokens", "context_length_exceeded");
        return new ServedRow(request, this, pieces, promptTokens, request.MaxTokens ?? Math.Min(defaultMaxTokens, room), cancel);
    }

    // A row writes at most max_tokens pieces (every piece but an empty one holds a token), within the positions left.
    private int MaxPieces(ServedRow row) => Math.Min(row.MaxTokens, MaxPositions - PromptPositions(((List<int[]>)row.Prompt).Count));

    internal override bool Fits(IReadOnlyList<ServedRow> batch, ServedRow candidate)
    {
        var rows = batch.Append(candidate).ToList();
        return rows.Max(r => PromptPositions(((List<int[]>)r.Prompt).Count)) + rows.Max(MaxPieces) <= MaxPositions;
    }

    internal override void Run(IReadOnlyList<ServedRow> batch)
    {
        var options = batch.Select(r => new SentenceGenerationOptions
        {
            MaxPieces = MaxPieces(r),
            Tokens = new GenerationOptions
            {
                MaxNewTokens = model.Config.Svae.MaxSeqLen - 1, Temperature = r.Request.Temperature, TopP = r.Request.TopP, TopK = r.Request.TopK, Seed = r.Request.Seed,
            },
        }).ToList();
        foreach (var step in generator.Steps(batch.Select(r => (List<int[]>)r.Prompt).ToList(), options, useCache: true, row => batch[row].Halted))
            foreach (var piece in step)
            {
                var row = batch[piece.Row];
                if (piece.Failed) { row.Fail(RowFailed()); continue; }
                int room = row.MaxTokens - row.Tokens;
                if (piece.Ids.Length > room) row.Add(Tokenizer.Decode(piece.Ids[..room]), room);   // the last piece, cut to max_tokens
                else row.Add(piece.Text, piece.Ids.Length);
            }
        // Rows that ran out of positions end by length; the others were ended by the stop head.
        foreach (var (row, o) in batch.Zip(options)) row.End(row.Steps >= o.MaxPieces ? FinishReason.Length : FinishReason.Stop);
    }

    internal override EmbeddingResult Embed(IReadOnlyList<string> inputs, CancellationToken cancel)
    {
        var vectors = new List<float[]>();
        int tokens = 0;
        using var evaluation = new EvaluationMode(model);
        foreach (var input in inputs)
        {
            cancel.ThrowIfCancellationRequested();          // a client gone mid-job frees the worker within one input
            var pieces = generator.PromptPieces(input).Where(p => p.Length > 0).ToList();
            if (pieces.Count == 0) throw ServingException.Invalid("an input to embed has no tokens", "input");
            using var scope = NewDisposeScope();
            var weights = tensor(pieces.Select(p => (float)p.Length).ToArray(), device: Devices.DeviceOf(model));   // (N)
            var sentence = codec.Encode(pieces).squeeze(1);                                                          // (N, C)
            var mean = (sentence * weights.unsqueeze(1)).sum(dim: 0) / weights.sum();                                     // (C)
            vectors.Add(mean.cpu().data<float>().ToArray());
            tokens += pieces.Sum(p => p.Length);
        }
        return new EmbeddingResult(vectors, tokens);
    }

    /// <inheritdoc/>
    public override void Dispose() => model.Dispose();
}
