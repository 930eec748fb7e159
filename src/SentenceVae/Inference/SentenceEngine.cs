using SentenceVae.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Inference;

/// <summary>
/// The sentence-level model's decoding engine, whose rows are in different phases at once. Every step
/// writes one token of every row's current piece (one Sentence Decoder pass for all rows, each reading its
/// own memory at its own position); the rows whose piece ended in that step then run, batched together,
/// the Sentence Encoder on their piece, one backbone step at their own positions, the stop head and the
/// decoder's new memory — and start their next piece in the next step. No row waits for another row's
/// piece. A row joins by prefilling its prompt's pieces through the backbone (alone). A row whose pieces
/// outgrow the trained context keeps its most recent half context in view (<see cref="ContextWindow"/>,
/// without the start vector, as the evaluator's later windows) and is re-prefilled alone.
/// </summary>
public sealed class SentenceEngine : DecodeEngine<PieceRow>
{
    private readonly SentenceLlm model;
    private readonly SentenceCodec codec;
    private readonly Device device;
    private readonly DecodingHead head;
    private readonly SlotKvCache backbone, decoder;
    private readonly List<(Tensor Key, Tensor Value)> memory;      // per decoder layer (S, nh, M, hs)
    private readonly Tensor positionTable;                         // (max_seq_len, C) the decoder's position encodings
    private readonly ContextWindow window;
    private readonly int shift, pieceLimit;
    private readonly bool reprefill;
    private readonly DecodeKernels? kernels;          // every projection of a decode step, when a weight format was given

    /// <summary>
    /// An engine of <paramref name="capacity"/> rows; <paramref name="reprefill"/>: re-run the backbone over each
    /// row's whole view every piece instead of stepping its cache (for equivalence tests); each row's view
    /// holds the trained context, or fewer <paramref name="positions"/> (benchmarks size the cache to what they time).
    /// </summary>
    public SentenceEngine(SentenceLlm model, int capacity, bool reprefill = false, int? positions = null, WeightFormat? weights = null) : base(capacity, model)
    {
        this.model = model;
        this.reprefill = reprefill;
        codec = new SentenceCodec(model.Svae);
        device = Devices.DeviceOf(model);
        shift = model.Config.UseStartVector ? 1 : 0;
        window = new ContextWindow(Math.Min(positions ?? int.MaxValue, Math.Min(model.Config.Context, model.Config.MaxPositions - shift)));
        pieceLimit = model.Config.Svae.MaxSeqLen - 1;
        head = model.Svae.Decoder.NewDecodingHead();
        if (weights is { } format) kernels = new DecodeKernels(format);          // as many threads as libtorch has

        var svae = model.Config.Svae;
        backbone = model.NewSlotCache(capacity, window.Context + shift, device, WeightFormats.CacheType(weights));
        decoder = new SlotKvCache(model.Svae.Decoder.NumLayers, capacity, svae.NumAttentionHeads, svae.MaxSeqLen, svae.HiddenSize / svae.NumAttentionHeads, WeightFormats.CacheType(weights), device);
        int slots = model.Config.MemoryVectors + (model.Config.ReadPreviousPiece ? svae.MaxSeqLen : 0);
        memory = Enumerable.Range(0, model.Svae.Decoder.NumLayers).Select(_ =>
            (zeros(new long[] { capacity, svae.NumAttentionHeads, slots, svae.HiddenSize / svae.NumAttentionHeads }, device: device).DetachFromDisposeScope(),
             zeros(new long[] { capacity, svae.NumAttentionHeads, slots, svae.HiddenSize / svae.NumAttentionHeads }, device: device).DetachFromDisposeScope())).ToList();
        positionTable = model.Svae.Decoder.PositionTable(device).DetachFromDisposeScope();
    }

    /// <summary>Bytes of the engine's caches (all slots): backbone, decoder self-attention, decoder memory.</summary>
    public long CacheBytes => backbone.AllocatedBytes + decoder.AllocatedBytes + memory.Sum(m => 2 * m.Key.NumberOfElements * m.Key.ElementSize);

    // The decoder memory's real slots for a row whose previous piece is `previous`: k vectors [+ BOS and the piece's tokens] (a prefix of its slot).
    private int MemoryLength(int[]? previous) => model.Config.MemoryVectors + (model.Config.ReadPreviousPiece && previous is not null ? previous.Length + 1 : 0);

    /// <summary>
    /// Milliseconds spent so far by part: decoder (token steps), piece (the per-piece work: encoder +
    /// backbone + stop head and the next memory, each also on its own), prefill.
    /// </summary>
    public Dictionary<string, double> Profile { get; } = new() { ["decoder"] = 0, ["piece"] = 0, ["encoder"] = 0, ["backbone"] = 0, ["stop_and_memory"] = 0, ["prefill"] = 0 };

    /// <summary>Pieces refused as repeats (<see cref="GenerationOptions.NoRepeatPieces"/>) and written again.</summary>
    public int Refused { get; private set; }

    // A piece the row may not write: identical to one of its last N pieces (prompt pieces count), while it has other first tokens to try.
    private static bool Repeats(PieceRow row, int[] piece)
    {
        int n = row.Sampling.NoRepeatPieces;
        if (n == 0 || piece.Length == 0 || row.RefusedFirst.Count >= MaxRefusals) return false;
        return row.History.Skip(Math.Max(0, row.History.Count - n)).Any(p => p.AsSpan().SequenceEqual(piece));
    }

    /// <summary>Most times one piece is refused; then the repeat is written (a model with nothing else to say is not held forever).</summary>
    public const int MaxRefusals = 4;

    /// <summary>Times the per-piece work ran (each time for all the rows whose piece had ended).</summary>
    public int PieceCalls { get; private set; }

    /// <summary>Decoder passes run (one token of every writing row each).</summary>
    public int DecoderCalls { get; private set; }

    /// <inheritdoc/>
    protected override void Admit(PieceRow row)
    {
        if (shift == 0 && row.Prompt.Count == 0) throw new ArgumentException("a model without a start vector needs at least one prompt piece");
        row.History = [.. row.Prompt];
        row.Start = window.Start(row.History.Count);
        row.Sampler = new RowSampling(row.Sampling, device);
        row.Sampler.Start(row.Prompt.SelectMany(p => p));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var hidden = Prefill(row);                                                            // (1, C)
        var (states, mask) = PieceStates([row.Prompt.Count > 0 ? row.Prompt[^1] : null]);
        var ended = new List<(PieceRow, DecodeEnd)>();
        NextPieces([row], [row.Prompt.Count > 0 ? row.Prompt[^1] : null], hidden, states, mask, ended);
        FinishAll(ended, Pending);
        Profile["prefill"] += clock.Elapsed.TotalMilliseconds;
    }

    // Runs the backbone over the row's view alone into its slot; returns its output at the last position (1, C).
    private Tensor Prefill(PieceRow row)
    {
        var pieces = row.History.Skip(row.Start).ToList();
        if (row.RandomContext)
        {
            backbone.FillRandom(row.Slot, (row.Start == 0 ? shift : 0) + pieces.Count);
            return randn(1, model.Config.Backbone.HiddenSize, device: device);
        }
        var parts = new List<Tensor>();
        if (row.Start == 0 && shift == 1) parts.Add(model.StartVectors(1));                  // (1, 1, C)
        if (pieces.Count > 0) parts.Add(codec.Encode(pieces).transpose(0, 1));                // (1, N, C)
        var vectors = cat(parts, 1);
        using var alone = model.NewCache();
        var hidden = model.Backbone(vectors, ones(1, vectors.shape[1], dtype: ScalarType.Int64, device: device), alone);
        backbone.Load(row.Slot, alone);
        return hidden.select(1, -1);                                                           // (1, C)
    }

    // Encoder token states (n, T, C) and mask (n, T) of pieces (null: none, mask 0) — what a model that reads the previous piece adds to its memory.
    private (Tensor? States, Tensor? Mask) PieceStates(IReadOnlyList<int[]?> pieces)
    {
        if (!model.Config.ReadPreviousPiece) return (null, null);
        var (_, states, mask) = codec.EncodeWithStates(pieces.Select(p => p ?? []).ToList());
        var present = tensor(pieces.Select(p => p is null ? 0L : 1L).ToArray(), device: device).unsqueeze(1);
        return (states, mask * present);
    }

    /// <summary>
    /// The per-piece work for rows whose backbone output is <paramref name="hidden"/> (n, C): the stop head
    /// (and whether the output is finite), then for the rows that go on, the decoder's memory of their next piece.
    /// </summary>
    private void NextPieces(List<PieceRow> rows, IReadOnlyList<int[]?> previous, Tensor hidden, Tensor? states, Tensor? mask, List<(PieceRow, DecodeEnd)> ended, IProjection? projection = null)
    {
        var logits = model.StopLogits(hidden);                                                                         // (n, 2)
        var stop = stack([logits.argmax(-1), logits.isfinite().all(-1).to(ScalarType.Int64)], 1).cpu().data<long>().ToArray();
        var going = new List<int>();
        for (int i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            if (stop[2 * i + 1] == 0) ended.Add((row, DecodeEnd.Failed));                   // a stop head's argmax of NaN would quietly end it
            else if (!row.IgnoreStop && stop[2 * i] == StopHead.Stop) ended.Add((row, DecodeEnd.Stop));
            else if (!row.HasBudget) ended.Add((row, row.BudgetEnd));
            else going.Add(i);
        }
        if (going.Count == 0) return;
        var index = tensor(going.Select(i => (long)i).ToArray(), device: device);
        var (next, nextMask) = model.DecoderMemory(hidden.index_select(0, index), states?.index_select(0, index), mask?.index_select(0, index));   // (g, M, C)
        var keysValues = model.Svae.Decoder.MemoryKeysValues(next, projection);                                                   // per layer (g, nh, M, hs)
        long m = next.shape[1];
        for (int j = 0; j < going.Count; j++)
        {
            var row = rows[going[j]];
            int slot = row.Slot;
            for (int l = 0; l < memory.Count; l++)
            {
                memory[l].Key[slot].zero_();
                memory[l].Value[slot].zero_();
                memory[l].Key[slot].narrow(1, 0, m).copy_(keysValues[l].Key[j]);
                memory[l].Value[slot].narrow(1, 0, m).copy_(keysValues[l].Value[j]);
            }
            row.MemoryLength = MemoryLength(previous[going[j]]);
            decoder.Restart(slot);
            row.Piece = [];
            row.Last = model.Config.Svae.BosId;
        }
    }

    /// <summary>
    /// Rows whose piece ended wait for their per-piece work (encoder, backbone, stop head, memory) until at
    /// least this share of the running rows is waiting, but at most <see cref="PieceMaxWait"/> steps: the
    /// work reads the encoder's and the backbone's weights once per call whatever its rows, so a few rows
    /// together cost little more than one. 0: never wait.
    /// </summary>
    public double PieceBatchShare { get; init; } = 1.0 / 4;

    /// <summary>Most steps a row whose piece ended waits for its per-piece work (see <see cref="PieceBatchShare"/>).</summary>
    public int PieceMaxWait { get; init; } = 2;

    /// <summary>
    /// Most rows (pieces × tokens, padded) the Sentence Encoder's products take through the kernels in a piece step: a
    /// piece of a few tokens is a small product, and the kernels on the engine's threads beat libtorch there (SLLM-1.3B-H1,
    /// one 9-token piece: 25.8 ms on libtorch, 19.3 on fp32 kernels, 16.5 on bf16). More go to libtorch.
    /// </summary>
    public int EncoderKernelRows { get; init; } = 64;

    /// <summary>Bytes of weights the decode kernels have been set up to read (0 while every step ran on libtorch).</summary>
    public override long KernelWeightBytes => kernels?.PackedBytes ?? 0;
    /// <inheritdoc/>
    public override bool UsesKernels => kernels is not null;

    /// <inheritdoc/>
    protected override void Iterate(List<DecodeEvent> events)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int eos = model.Config.Svae.EosId;
        var writing = Rows.Where(r => !r.Waiting).ToList();
        var ended = new List<(PieceRow, DecodeEnd)>();
        if (writing.Count > 0)
            using (kernels?.Use()) WriteTokens(writing, events, ended, eos);
        Profile["decoder"] += clock.Elapsed.TotalMilliseconds;
        clock.Restart();

        var waiting = Rows.Where(r => r.Waiting && !ended.Any(e => e.Item1 == r)).ToList();
        bool now = waiting.Count > 0 && (waiting.Count >= Math.Max(1, PieceBatchShare * Rows.Count) || waiting.Any(r => r.Waited >= PieceMaxWait) || waiting.Count + ended.Count >= Rows.Count);
        if (now)
            // When the backbone step goes through the kernels, libtorch runs the encoder before it on one thread too: its
            // OpenMP workers would otherwise spin beside the kernels (measured on SLLM-125M-H1: backbone 12.8–14.8 → 8.3–10.3 ms, encoder unchanged).
            using (var scope = kernels?.Use(singleThreadedLibtorch: waiting.Count <= DecodeKernels.KernelRows)) PieceWork(waiting, ended, scope);
        else foreach (var row in waiting) row.Waited++;
        FinishAll(ended, events);
        Profile["piece"] += clock.Elapsed.TotalMilliseconds;
    }

    // One token of every writing row's piece: one decoder pass, one host transfer. A row whose piece is complete reports it and waits for its per-piece work.
    private void WriteTokens(List<PieceRow> writing, List<DecodeEvent> events, List<(PieceRow, DecodeEnd)> ended, int eos)
    {
        int n = writing.Count;
        long[] ids;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            bool contiguous = writing.Select((r, i) => r.Slot == i).All(x => x);                 // slots 0..n−1: views of the caches, no copies
            var slots = writing.Select(r => r.Slot).ToList();
            var index = contiguous ? null : tensor(slots.Select(s => (long)s).ToArray(), device: device);
            int width = writing.Max(r => r.MemoryLength);
            Tensor Select(Tensor t) => index is null ? t.narrow(0, 0, n) : t.index_select(0, index);
            var input = tensor(writing.Select(r => (long)r.Last).ToArray(), new long[] { n, 1 }, device: device);      // (n, 1)
            var rowsMemory = memory.Select(m => (Select(m.Key.narrow(2, 0, width)), Select(m.Value.narrow(2, 0, width)))).ToList();
            var crossMask = model.Config.ReadPreviousPiece ? SlotKvCache.SlotStep.AdditiveMask(writing.Select(r => r.MemoryLength).ToArray(), width, device) : null;   // (n, 1, 1, M)
            var step = contiguous ? decoder.Step(n) : decoder.Step(slots);
            var logits = model.Svae.Decoder.Step(input, rowsMemory, crossMask, step, positionTable, head);                  // (n, V)
            DecoderCalls++;
            step.Commit();
            ids = TokenSampler.Sample(logits, writing.Select(r => r.Sampler!).ToList()).cpu().data<long>().ToArray();
        }
        for (int i = 0; i < n; i++)
        {
            var row = writing[i];
            if (ids[i] == TokenSampler.Broken) { ended.Add((row, DecodeEnd.Failed)); continue; }
            int id = (int)ids[i];
            bool eosNow = row.Sampling.StopAtEos && id == eos;
            Wrote++;                                      // a token or the end of its piece
            if (!eosNow)
            {
                row.Piece.Add(id);
                row.Sampler!.Accept(id);
            }
            row.Last = id;
            row.Sampler!.Banned.Clear();                  // bans hold for a piece's first token only
            int room = row.MaxTokens - row.Tokens;
            bool full = row.Piece.Count >= Math.Min(pieceLimit, row.Sampling.MaxNewTokens) || row.Piece.Count >= room;
            if (!eosNow && !full) continue;
            // The piece is complete.
            var piece = row.Piece.ToArray();
            if (Repeats(row, piece))
            {
                // Refused: the row writes the piece again, starting with another token than the repeat did.
                row.Sampler.Retract(piece);
                row.RefusedFirst.Add(piece[0]);
                row.Sampler.Banned.UnionWith(row.RefusedFirst);
                row.Piece = [];
                row.Last = model.Config.Svae.BosId;
                decoder.Restart(row.Slot);
                Refused++;
                continue;
            }
            row.RefusedFirst.Clear();
            row.Tokens += piece.Length;
            row.Pieces++;
            row.History.Add(piece);
            if (!Emit(row, piece, events)) ended.Add((row, DecodeEnd.Stop));
            else if (!row.HasBudget) ended.Add((row, row.BudgetEnd));
            else
            {
                row.Waiting = true;
                row.Waited = 0;
            }
        }
    }

    // The per-piece work of rows whose piece is complete, batched: encode the pieces, one backbone step each (or a re-prefill when the view slides), then NextPieces.
    private void PieceWork(List<PieceRow> written, List<(PieceRow, DecodeEnd)> ended, IProjection? projection)
    {
        foreach (var row in written) row.Waiting = false;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Tensor vectors, pieceStates, pieceMask;
        using (var encoderScope = kernels?.Use(rows: EncoderKernelRows))
            (vectors, pieceStates, pieceMask) = codec.EncodeWithStates(written.Select(r => r.History[^1]).ToList(), encoderScope);   // (w, 1, C), (w, T, C), (w, T)
        Profile["encoder"] += clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        var hidden = new Tensor[written.Count];
        var stepped = new List<int>();
        for (int j = 0; j < written.Count; j++)
        {
            var row = written[j];
            int start = window.Start(row.History.Count, row.Start);
            if (start != row.Start || reprefill)
            {
                row.Start = start;
                hidden[j] = Prefill(row);                                                                            // (1, C)
            }
            else stepped.Add(j);
        }
        if (stepped.Count > 0)
        {
            var step = backbone.Step(stepped.Select(j => written[j].Slot).ToList());
            var index = tensor(stepped.Select(j => (long)j).ToArray(), device: device);
            var outputs = model.BackboneStep(vectors.index_select(0, index), step);                                 // (s, C)
            step.Commit();
            for (int k = 0; k < stepped.Count; k++) hidden[stepped[k]] = outputs.narrow(0, k, 1);
        }
        Profile["backbone"] += clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        NextPieces(written, written.Select(r => r.History[^1]).ToList(), cat(hidden, 0),
            model.Config.ReadPreviousPiece ? pieceStates : null, model.Config.ReadPreviousPiece ? pieceMask : null, ended, projection);
        Profile["stop_and_memory"] += clock.Elapsed.TotalMilliseconds;
        PieceCalls++;
    }

    /// <inheritdoc/>
    protected override void MoveSlot(int from, int to)
    {
        backbone.Move(from, to);
        decoder.Move(from, to);
        using var scope = NewDisposeScope();                 // the slot views made here are freed here, whoever calls
        using var noGrad = no_grad();
        foreach (var (k, v) in memory)
        {
            k[to].copy_(k[from]);
            v[to].copy_(v[from]);
        }
    }

    /// <inheritdoc/>
    protected override void Free()
    {
        backbone.Dispose();
        decoder.Dispose();
        foreach (var (k, v) in memory) { k.Dispose(); v.Dispose(); }
        positionTable.Dispose();
        head.Dispose();
    }
}
