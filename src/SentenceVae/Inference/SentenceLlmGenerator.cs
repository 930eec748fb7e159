using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Inference;

/// <summary>How a sentence-level LLM continues text: at most <see cref="MaxPieces"/> pieces, each decoded with <see cref="Tokens"/>.</summary>
public sealed record SentenceGenerationOptions
{
    /// <summary>Most pieces to generate per prompt.</summary>
    public int MaxPieces { get; init; } = 8;
    /// <summary>Piece decoding: max tokens per piece, greedy or temperature/top-k/top-p, seed.</summary>
    public GenerationOptions Tokens { get; init; } = new() { MaxNewTokens = 64 };
    /// <summary>Ignore the stop head (for timing a fixed number of pieces).</summary>
    public bool IgnoreStop { get; init; }
}

/// <summary>One generated piece of one row; <see cref="Failed"/>: the row's probabilities stopped being finite, it ends here (no text) and the other rows go on.</summary>
public readonly record struct GeneratedPiece(int Row, int Index, string Text, int[] Ids, bool Failed = false);

/// <summary>
/// Sentence-by-sentence generation: prefill the prompt's pieces through the backbone (KV cache); then per
/// step: stop head → decode the next piece with the KV-cached Sentence Decoder (reading the backbone's
/// last output [and the previous piece]) → encode it → one backbone step reusing the cache. Rows of a
/// batch stop independently. A row whose pieces outgrow the trained context keeps its most recent half
/// context in view and the backbone is re-prefilled (<see cref="ContextWindow"/>).
/// </summary>
public sealed class SentenceLlmGenerator(SentenceLlm model, ITextTokenizer tokenizer)
{
    private readonly SentenceCodec codec = new(model.Svae);

    /// <summary>The prompt's pieces as token ids (lossless segmentation within the piece length limit).</summary>
    public List<int[]> PromptPieces(string prompt)
    {
        var splitter = SentenceSplitter.ForModel(model.Config.Svae, tokenizer);
        return splitter.Split(prompt).Select(p => tokenizer.Encode(p).ToArray()).ToList();
    }

    /// <summary>The continuation of each prompt as its list of generated pieces (batched; rows stop independently).</summary>
    public List<List<string>> Generate(IReadOnlyList<string> prompts, SentenceGenerationOptions options, bool useCache = true)
    {
        var outputs = prompts.Select(_ => new List<string>()).ToList();
        foreach (var step in Steps(prompts.Select(PromptPieces).ToList(), options, useCache))
            foreach (var piece in step) outputs[piece.Row].Add(piece.Failed ? throw TokenGenerator.FailedRow() : piece.Text);
        return outputs;
    }

    /// <summary>Streams the pieces of one prompt's continuation as they are produced (the loop runs on its own thread).</summary>
    public IAsyncEnumerable<GeneratedPiece> StreamAsync(string prompt, SentenceGenerationOptions options, CancellationToken cancel = default) =>
        StreamAsync(PromptPieces(prompt), options, cancel);

    /// <summary>As <see cref="StreamAsync(string, SentenceGenerationOptions, CancellationToken)"/> from a prompt already cut into pieces' token ids.</summary>
    public IAsyncEnumerable<GeneratedPiece> StreamAsync(List<int[]> promptPieces, SentenceGenerationOptions options, CancellationToken cancel = default) =>
        ThreadedStream.Run(() => Steps([promptPieces], options, useCache: true).SelectMany(step => step).Select(p => p.Failed ? throw TokenGenerator.FailedRow() : p), "svae-sllm-generate", cancel);

    /// <summary>The tokenizer the pieces are written with.</summary>
    public ITextTokenizer Tokenizer => tokenizer;

    /// <summary>
    /// The loop. Without the cache, the backbone re-runs over the whole sequence every step (for
    /// equivalence tests and timing).
    /// </summary>
    public IEnumerable<List<GeneratedPiece>> Steps(IReadOnlyList<List<int[]>> prompts, SentenceGenerationOptions options, bool useCache) =>
        Steps(prompts, [options], useCache);

    /// <summary>
    /// The loop with options of its own for each row (<paramref name="rowOptions"/>: one for all rows or one
    /// per row): a row ends when the stop head says so (unless it ignores it), at its
    /// <see cref="SentenceGenerationOptions.MaxPieces"/>, or when <paramref name="halted"/> says so (checked
    /// before each piece: cancelled, stop text, budget). A row's pieces hold at most its own tokens limit.
    /// </summary>
    public IEnumerable<List<GeneratedPiece>> Steps(IReadOnlyList<List<int[]>> prompts, IReadOnlyList<SentenceGenerationOptions> rowOptions, bool useCache,
        Func<int, bool>? halted = null)
    {
        int rows = prompts.Count;
        if (rows == 0) throw new ArgumentException("no prompts");
        if (rowOptions.Count != 1 && rowOptions.Count != rows) throw new ArgumentException($"{rowOptions.Count} options for {rows} prompts");
        SentenceGenerationOptions Options(int row) => rowOptions[rowOptions.Count == 1 ? 0 : row];
        int shift = model.Config.UseStartVector ? 1 : 0;
        if (shift == 0 && prompts.Any(p => p.Count == 0)) throw new ArgumentException("a model without a start vector needs at least one prompt piece");
        int longest = NextPiecePlan.Position(prompts.Max(p => p.Count), shift == 1) + 1;   // positions up to the one predicting the next piece
        int maxPieces = rowOptions.Max(o => o.MaxPieces);
        if (longest + maxPieces > model.Config.MaxPositions)
            throw new ArgumentException($"{longest} prompt positions + {maxPieces} pieces exceed the backbone's {model.Config.MaxPositions} positions");
        var device = Devices.DeviceOf(model);
        using var evaluation = new EvaluationMode(model);
        using var sampler = new TokenSampler(rowOptions.Select(o => o.Tokens).ToList(), device);
        using var head = model.Svae.Decoder.NewDecodingHead();
        var pieceLimit = rowOptions[0].Tokens with { MaxNewTokens = rowOptions.Max(o => o.Tokens.MaxNewTokens) };

        // Each row's pieces so far and the first one its view holds: [start vector,] pieces while they fit the
        // trained context, then the most recent half context without the start vector (see ContextWindow),
        // as the evaluator's later windows are.
        var window = new ContextWindow(model.Config.Context);
        var history = prompts.Select(p => new List<int[]>(p)).ToList();
        var start = prompts.Select(p => window.Start(p.Count)).ToArray();
        var pads = new int[rows];
        int width = 0;                          // backbone positions in the cache: the longest view, the others left-padded
        var done = new bool[rows];
        KvCache? cache = null;
        Tensor? hidden = null, previousStates = null, previousMask = null;

        // (Re-)prefills every row's view through the backbone; returns its output at each row's last position.
        Tensor Prefill()
        {
            using var scope = NewDisposeScope();
            var views = Enumerable.Range(0, rows).Select(r => (Start: start[r] == 0 ? shift : 0, Pieces: history[r].Skip(start[r]).ToList())).ToList();
            width = views.Max(v => v.Start + v.Pieces.Count);
            var vectors = zeros(rows, width, model.Config.Svae.HiddenSize, device: device);
            for (int r = 0; r < rows; r++)
            {
                pads[r] = width - views[r].Start - views[r].Pieces.Count;
                if (views[r].Start == 1) vectors[r, pads[r]] = model.StartVectors(1)[0, 0];
                if (views[r].Pieces.Count > 0)
                    vectors[r, TensorIndex.Slice(pads[r] + views[r].Start, width)] = codec.Encode(views[r].Pieces).squeeze(1);
            }
            cache?.Dispose();
            cache = useCache ? model.NewCache() : null;
            return Last(model.Backbone(vectors, Mask(pads, width, device), cache)).DetachFromDisposeScope();   // (B, C)
        }

        try
        {
            hidden = Prefill();
            if (model.Config.ReadPreviousPiece) (previousStates, previousMask) = LastPieces(prompts);
            for (int index = 0; index < maxPieces; index++)
            {
                using var scope = NewDisposeScope();
                for (int r = 0; r < rows; r++) done[r] |= index >= Options(r).MaxPieces || halted?.Invoke(r) == true;
                var failures = new List<GeneratedPiece>();
                if (rowOptions.Any(o => !o.IgnoreStop) && !done.All(d => d))
                {
                    // The stop decision and whether the backbone's output is finite, in one transfer: a row whose
                    // output is not finite fails here (the stop head's argmax of NaN would quietly end it).
                    var logits = model.StopLogits(hidden);                                                   // (B, 2)
                    var stop = stack([logits.argmax(-1), logits.isfinite().all(-1).to(ScalarType.Int64)], 1).cpu().data<long>().ToArray();
                    for (int r = 0; r < rows; r++)
                    {
                        if (done[r]) continue;
                        if (stop[2 * r + 1] == 0) { done[r] = true; failures.Add(new GeneratedPiece(r, index, "", [], Failed: true)); }
                        else done[r] = !Options(r).IgnoreStop && stop[2 * r] == StopHead.Stop;
                    }
                }
                if (done.All(d => d))
                {
                    if (failures.Count > 0) yield return failures;
                    yield break;
                }
                var (memory, memoryMask) = model.DecoderMemory(hidden, previousStates, previousMask);   // (B, M, C)
                var broken = new bool[rows];
                var ids = codec.Decode(memory, pieceLimit, sampler, memoryMask, skip: done, head: head, broken: broken);   // rows that ended write nothing
                for (int r = 0; r < rows; r++)
                    if (ids[r].Length > Options(r).Tokens.MaxNewTokens) ids[r] = ids[r][..Options(r).Tokens.MaxNewTokens];
                var emitted = Enumerable.Range(0, rows).Where(r => !done[r])
                    .Select(r => broken[r] ? new GeneratedPiece(r, index, "", [], Failed: true) : new GeneratedPiece(r, index, tokenizer.Decode(ids[r]), ids[r]))
                    .Concat(failures).ToList();
                for (int r = 0; r < rows; r++)
                    if (broken[r]) { done[r] = true; ids[r] = []; }                          // ends alone; its batch-mates go on
                var (next, states, mask) = codec.EncodeWithStates(ids);                              // (B, 1, C), (B, T, C), (B, T)
                if (model.Config.ReadPreviousPiece)
                {
                    previousStates!.Dispose(); previousMask!.Dispose();
                    (previousStates, previousMask) = (states.DetachFromDisposeScope(), mask.DetachFromDisposeScope());
                }
                bool prefill = !useCache;               // without the cache, the backbone re-runs over every view each step
                for (int r = 0; r < rows; r++)
                {
                    if (done[r]) continue;              // a finished row's view stays as it is (its cache column is never read)
                    history[r].Add(ids[r]);
                    if (window.Start(history[r].Count, start[r]) is var s && s != start[r]) { start[r] = s; prefill = true; }
                }
                hidden.Dispose();
                if (prefill) hidden = Prefill();
                else
                {
                    width++;
                    hidden = Last(model.Backbone(next, Mask(pads, width, device), cache)).DetachFromDisposeScope();
                }
                yield return emitted;
            }
        }
        finally
        {
            cache?.Dispose();
            hidden?.Dispose();
            previousStates?.Dispose();
            previousMask?.Dispose();
        }
    }

    /// <summary>Encoder states (B, T, C) and mask (B, T) of each prompt's last piece (mask 0 for an empty prompt), outside any scope.</summary>
    private (Tensor States, Tensor Mask) LastPieces(IReadOnlyList<List<int[]>> prompts)
    {
        using var scope = NewDisposeScope();
        var (_, states, mask) = codec.EncodeWithStates(prompts.Select(p => p.Count > 0 ? p[^1] : []).ToList());
        var present = tensor(prompts.Select(p => p.Count > 0 ? 1L : 0L).ToArray(), device: mask.device).unsqueeze(1);
        return (states.DetachFromDisposeScope(), (mask * present).DetachFromDisposeScope());
    }

    private static Tensor Last(Tensor hidden) => hidden.select(1, -1);                           // (B, C)

    private static Tensor Mask(int[] pads, int length, Device device) =>
        arange(length, device: device).unsqueeze(0).ge(tensor(pads.Select(p => (long)p).ToArray(), device: device).unsqueeze(1)).to(ScalarType.Int64);
}
