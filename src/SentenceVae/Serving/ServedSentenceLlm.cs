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

    /// <summary>Serves <paramref name="model"/> under <paramref name="name"/> (the service disposes it); <paramref name="weights"/>: its decode steps through the decode kernels in that format.</summary>
    public ServedSentenceLlm(string name, SentenceLlm model, ITextTokenizer tokenizer, WeightFormat? weights = null) : base(name, tokenizer)
    {
        this.model = model;
        generator = new SentenceLlmGenerator(model, tokenizer) { Weights = weights };
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
        int maxTokens = request.MaxTokens ?? Math.Min(defaultMaxTokens, room);
        // A row writes at most max_tokens pieces (every piece but an empty one holds a token), within the positions left.
        return new ServedRow(request, this, promptTokens, maxTokens, cancel, halted => new PieceRow(pieces)
        {
            Sampling = request.Sampling(model.Config.Svae.MaxSeqLen - 1),
            MaxTokens = maxTokens, MaxPieces = Math.Min(maxTokens, MaxPositions - needed), Halted = halted,
        });
    }

    internal override IDecodeEngine NewEngine(int capacity) => generator.NewEngine(capacity);

    internal override void Write(ServedRow row, DecodeEvent written)
    {
        if (written.End is { } end) End(row, end);
        else row.Add(Tokenizer.Decode(written.Ids), written.Ids.Length);   // the engine cut the last piece to max_tokens
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
