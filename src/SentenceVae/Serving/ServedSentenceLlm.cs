using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

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
    public override ModelKind Kind => ModelKind.SentenceLlm;
    /// <inheritdoc/>
    public override int MaxPositions => model.Config.MaxPositions;
    /// <inheritdoc/>
    public override bool CanEmbed => true;

    // Positions: [start vector,] one per prompt piece, one per generated piece.
    private int PromptPositions(int pieces) => NextPiecePlan.Position(pieces, model.Config.UseStartVector) + 1;

    internal override (DecodeRow Row, int PromptTokens) Read(CompletionRequest request, int defaultMaxTokens, CancellationToken cancel)
    {
        // Counted before it is cut: a prompt of more tokens than every position's longest piece can hold is refused without
        // splitting it. Only a long prompt can be that long (a UTF-16 character is at most 3 bytes, so 3 byte-level tokens).
        long capacity = (long)(MaxPositions - 1) * (model.Config.Svae.MaxSeqLen - 1);
        if (request.Prompt.Length > capacity * SentenceSplitter.MaxCharsPerToken
            || 3L * request.Prompt.Length > capacity && Tokenizer.CountTokens(request.Prompt) > capacity)
            throw ServingException.Invalid($"the prompt has more tokens than model '{Name}' can read: {MaxPositions - 1} pieces of at most {model.Config.Svae.MaxSeqLen - 1} tokens ({capacity})",
                "prompt", "context_length_exceeded");
        var pieces = generator.PromptPieces(request.Prompt, cancel);
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
        return (new PieceRow(pieces)
        {
            Sampling = request.RowSampling(model.Config.Svae.MaxSeqLen - 1),
            MaxTokens = maxTokens, MaxPieces = Math.Min(maxTokens, MaxPositions - needed),
        }, promptTokens);
    }

    internal override IDecodeEngine NewEngine(int capacity) => generator.NewEngine(capacity);

    internal override string Text(ServedRow row, int[] ids) => Tokenizer.Decode(ids);      // the engine cut the last piece to max_tokens

    /// <summary>Most text tokens one embedding slice encodes (one piece at least): a slice takes about as long as a decode step.</summary>
    internal const int EmbeddingSliceTokens = 1024;

    /// <summary>Cuts the inputs into pieces on the caller's thread (cancelled when the client leaves); the worker then encodes them slice by slice.</summary>
    internal override EmbeddingJob PrepareEmbedding(IReadOnlyList<string> inputs, CancellationToken cancel)
    {
        var pieces = new List<(int Input, int[] Ids)>();
        for (int i = 0; i < inputs.Count; i++)
        {
            int before = pieces.Count;
            pieces.AddRange(generator.PromptPieces(inputs[i], cancel).Where(p => p.Length > 0).Select(p => (i, p)));
            if (pieces.Count == before) throw ServingException.Invalid("an input to embed has no tokens", "input");
        }
        return new SlicedEmbedding(this, inputs.Count, pieces, cancel);
    }

    /// <summary>Each input's vector: the mean of its pieces' sentence vectors weighted by their token counts, summed slice by slice.</summary>
    private sealed class SlicedEmbedding(ServedSentenceLlm served, int inputs, List<(int Input, int[] Ids)> pieces, CancellationToken cancel) : EmbeddingJob
    {
        private readonly float[][] sums = new float[inputs][];
        private readonly int[] tokens = new int[inputs];
        private int next;

        public override bool Step()
        {
            cancel.ThrowIfCancellationRequested();          // a client gone mid-job frees the worker within one slice
            // A slice holds one input's pieces only, so an input's vector is the same whatever it is sent with.
            int end = next, budget = 0;
            while (end < pieces.Count && (end == next || pieces[end].Input == pieces[next].Input && budget + pieces[end].Ids.Length <= EmbeddingSliceTokens))
                budget += pieces[end++].Ids.Length;
            var slice = pieces.GetRange(next, end - next);
            using (var evaluation = new EvaluationMode(served.model))
            using (var scope = NewDisposeScope())
            {
                var encoded = served.codec.Encode(slice.Select(p => p.Ids).ToList()).squeeze(1);                        // (n, C)
                int width = (int)encoded.shape[1];
                var vectors = encoded.cpu().data<float>().ToArray();                                                    // one copy to the host
                for (int k = 0; k < slice.Count; k++)
                {
                    var (input, ids) = slice[k];
                    var sum = sums[input] ??= new float[width];
                    for (int c = 0; c < width; c++) sum[c] += vectors[k * width + c] * ids.Length;
                    tokens[input] += ids.Length;
                }
            }
            next = end;
            if (next < pieces.Count) return false;
            Result = new EmbeddingResult(sums.Select((sum, i) => sum.Select(v => v / tokens[i]).ToArray()).ToList(), tokens.Sum());
            return true;
        }
    }

    /// <inheritdoc/>
    public override void Dispose() => model.Dispose();
}
