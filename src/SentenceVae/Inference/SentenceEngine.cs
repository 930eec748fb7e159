using SentenceVae.Modules;
using static TorchSharp.torch;

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
    private readonly Tensor memoryMask;                            // (S, M) 1 real / 0 padding
    private readonly ContextWindow window;
    private readonly int shift, pieceLimit;
    private readonly bool reprefill, wasTraining;

    /// <summary>An engine of <paramref name="capacity"/> rows; <paramref name="reprefill"/>: re-run the backbone over each row's whole view every piece instead of stepping its cache (for equivalence tests).</summary>
    public SentenceEngine(SentenceLlm model, int capacity, bool reprefill = false) : base(capacity)
    {
        this.model = model;
        this.reprefill = reprefill;
        codec = new SentenceCodec(model.Svae);
        device = Devices.DeviceOf(model);
        shift = model.Config.UseStartVector ? 1 : 0;
        window = new ContextWindow(Math.Min(model.Config.Context, model.Config.MaxPositions - shift));
        pieceLimit = model.Config.Svae.MaxSeqLen - 1;
        wasTraining = model.training;
        model.eval();
        head = model.Svae.Decoder.NewDecodingHead();
        var svae = model.Config.Svae;
        backbone = model.NewSlotCache(capacity, window.Context + shift, device);
        decoder = new SlotKvCache(model.Svae.Decoder.NumLayers, capacity, svae.NumAttentionHeads, svae.MaxSeqLen, svae.HiddenSize / svae.NumAttentionHeads, ScalarType.Float32, device);
        int slots = model.Config.MemoryVectors + (model.Config.ReadPreviousPiece ? svae.MaxSeqLen : 0);
        memory = Enumerable.Range(0, model.Svae.Decoder.NumLayers).Select(_ =>
            (zeros(new long[] { capacity, svae.NumAttentionHeads, slots, svae.HiddenSize / svae.NumAttentionHeads }, device: device).DetachFromDisposeScope(),
             zeros(new long[] { capacity, svae.NumAttentionHeads, slots, svae.HiddenSize / svae.NumAttentionHeads }, device: device).DetachFromDisposeScope())).ToList();
        memoryMask = zeros(new long[] { capacity, slots }, ScalarType.Int64, device).DetachFromDisposeScope();
    }

    /// <summary>Bytes of the engine's caches (all slots): backbone, decoder self-attention, decoder memory.</summary>
    public long CacheBytes => backbone.AllocatedBytes + decoder.AllocatedBytes + memory.Sum(m => 2 * m.Key.NumberOfElements * m.Key.ElementSize);

    /// <summary>Milliseconds spent so far by part: decoder (token steps), piece (encoder + backbone + stop head + memory), prefill.</summary>
    public Dictionary<string, double> Profile { get; } = new() { ["decoder"] = 0, ["piece"] = 0, ["prefill"] = 0 };

    /// <inheritdoc/>
    protected override void Admit(PieceRow row)
    {
        if (shift == 0 && row.Prompt.Count == 0) throw new ArgumentException("a model without a start vector needs at least one prompt piece");
        row.History = [.. row.Prompt];
        row.Start = window.Start(row.History.Count);
        row.Sampler = new RowSampling(row.Sampling, device);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var hidden = Prefill(row);                                                            // (1, C)
        var (states, mask) = PieceStates([row.Prompt.Count > 0 ? row.Prompt[^1] : null]);
        var ended = new List<(PieceRow, DecodeEnd)>();
        NextPieces([row], hidden, states, mask, ended);
        FinishAll(ended, Pending);
        Profile["prefill"] += clock.Elapsed.TotalMilliseconds;
    }

    // Runs the backbone over the row's view alone into its slot; returns its output at the last position (1, C).
    private Tensor Prefill(PieceRow row)
    {
        var pieces = row.History.Skip(row.Start).ToList();
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
    private void NextPieces(List<PieceRow> rows, Tensor hidden, Tensor? states, Tensor? mask, List<(PieceRow, DecodeEnd)> ended)
    {
        var logits = model.StopLogits(hidden);                                                                         // (n, 2)
        var stop = stack([logits.argmax(-1), logits.isfinite().all(-1).to(ScalarType.Int64)], 1).cpu().data<long>().ToArray();
        var going = new List<int>();
        for (int i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            if (stop[2 * i + 1] == 0) ended.Add((row, DecodeEnd.Failed));                   // a stop head's argmax of NaN would quietly end it
            else if (!row.IgnoreStop && stop[2 * i] == StopHead.Stop) ended.Add((row, DecodeEnd.Stop));
            else if (!row.HasBudget) ended.Add((row, row.Halted?.Invoke() == true ? DecodeEnd.Halted : DecodeEnd.Length));
            else going.Add(i);
        }
        if (going.Count == 0) return;
        var index = tensor(going.Select(i => (long)i).ToArray(), device: device);
        var (next, nextMask) = model.DecoderMemory(hidden.index_select(0, index), states?.index_select(0, index), mask?.index_select(0, index));   // (g, M, C)
        var keysValues = model.Svae.Decoder.MemoryKeysValues(next);                                                   // per layer (g, nh, M, hs)
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
            memoryMask[slot].zero_();
            if (nextMask is null) memoryMask[slot].narrow(0, 0, m).fill_(1);
            else memoryMask[slot].narrow(0, 0, m).copy_(nextMask[j]);
            row.MemoryLength = (int)m;
            decoder.Restart(slot);
            row.Piece = [];
            row.Last = model.Config.Svae.BosId;
        }
    }

    /// <inheritdoc/>
    protected override void Iterate(List<DecodeEvent> events)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int n = Rows.Count, eos = model.Config.Svae.EosId;
        long[] ids;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            int width = Rows.Max(r => r.MemoryLength);
            var input = tensor(Rows.Select(r => (long)r.Last).ToArray(), new long[] { n, 1 }, device: device);        // (n, 1)
            var rowsMemory = memory.Select(m => (m.Key.narrow(0, 0, n).narrow(2, 0, width), m.Value.narrow(0, 0, n).narrow(2, 0, width))).ToList();
            var crossMask = model.Config.ReadPreviousPiece ? AttentionMasks.Padding(memoryMask.narrow(0, 0, n).narrow(1, 0, width), ScalarType.Float32) : null;
            var step = decoder.Step(n);
            var logits = model.Svae.Decoder.Step(input, rowsMemory, crossMask, step, head);                             // (n, V)
            step.Commit();
            ids = TokenSampler.Sample(logits, Rows.Select(r => r.Sampler!).ToList()).cpu().data<long>().ToArray();
        }
        Profile["decoder"] += clock.Elapsed.TotalMilliseconds;
        clock.Restart();

        var ended = new List<(PieceRow, DecodeEnd)>();
        var written = new List<PieceRow>();
        for (int i = 0; i < n; i++)
        {
            var row = Rows[i];
            if (ids[i] == TokenSampler.Broken) { ended.Add((row, DecodeEnd.Failed)); continue; }
            int id = (int)ids[i];
            bool eosNow = row.Sampling.StopAtEos && id == eos;
            if (!eosNow) row.Piece.Add(id);
            row.Last = id;
            int room = row.MaxTokens - row.Tokens;
            bool full = row.Piece.Count >= Math.Min(pieceLimit, row.Sampling.MaxNewTokens) || row.Piece.Count >= room;
            if (!eosNow && !full) continue;
            // The piece is complete.
            var piece = row.Piece.ToArray();
            row.Tokens += piece.Length;
            row.Pieces++;
            row.History.Add(piece);
            events.Add(new DecodeEvent(row, piece));
            if (!row.HasBudget) ended.Add((row, row.Halted?.Invoke() == true ? DecodeEnd.Halted : DecodeEnd.Length));
            else written.Add(row);
        }
        if (written.Count > 0)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var (vectors, pieceStates, pieceMask) = codec.EncodeWithStates(written.Select(r => r.History[^1]).ToList());   // (w, 1, C), (w, T, C), (w, T)
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
            NextPieces(written, cat(hidden, 0), model.Config.ReadPreviousPiece ? pieceStates : null, model.Config.ReadPreviousPiece ? pieceMask : null, ended);
        }
        FinishAll(ended, events);
        Profile["piece"] += clock.Elapsed.TotalMilliseconds;
    }

    /// <inheritdoc/>
    protected override void MoveSlot(int from, int to)
    {
        backbone.Move(from, to);
        decoder.Move(from, to);
        using var noGrad = no_grad();
        foreach (var (k, v) in memory)
        {
            k[to].copy_(k[from]);
            v[to].copy_(v[from]);
        }
        memoryMask[to].copy_(memoryMask[from]);
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        foreach (var row in Rows) row.Sampler?.Dispose();
        backbone.Dispose();
        decoder.Dispose();
        foreach (var (k, v) in memory) { k.Dispose(); v.Dispose(); }
        memoryMask.Dispose();
        head.Dispose();
        if (wasTraining) model.train();
    }
}
