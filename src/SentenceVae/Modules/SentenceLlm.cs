using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// What a batch of sentence windows scores: <see cref="Objective"/> to minimise (with gradient) and the
/// summed negative log-likelihoods (nats) of the pieces' tokens + EOS and of the stop decisions — the
/// quantities bits per byte is computed from — and the logits they come from: <see cref="TokenLogits"/>
/// (N_tok, V) in the plan's order (each predicted piece's tokens, then its EOS) and <see cref="StopLogits"/> (N_stop, 2).
/// </summary>
public sealed record SentenceLlmLoss(Tensor Objective, Tensor TokenNll, Tensor StopNll, long Tokens, long Stops, Tensor TokenLogits, Tensor StopLogits);

/// <summary>
/// The paper's sentence-level LLM. Pieces → <c>svae</c>'s Sentence Encoder → one vector each [→ <c>in_proj</c>
/// to the backbone's width] (+ learned positions <c>llm_pe</c>, as OPT) → OPT decoder layers <c>llm_layers</c>
/// under a CAUSAL mask [→ <c>final_layer_norm</c>] → the output at piece i feeds the <see cref="StopHead"/>
/// <c>fc</c> (stop / continue) and, as the decoder's memory, the Sentence Decoder, which writes piece i+1.
/// The memory is the output itself (the paper's layout) or <c>to_memory</c>'s k vectors, optionally followed
/// by the encoder's token states of the piece just before the one being written. A learned
/// <c>start_vector</c> in front lets the model predict a document's first piece. The paper's layout
/// keeps the reference SLLM's keys (<c>svae.*</c>, <c>llm_pe.*</c>, <c>llm_layers.N.*</c>, <c>fc.*</c>);
/// the reference calls its layers without a mask, which lets every position see the next piece — this
/// one cannot.
/// </summary>
public sealed class SentenceLlm : nn.Module
{
    private readonly SentenceVaeModel svae;
    private readonly Linear? in_proj;
    private readonly Embedding llm_pe;
    private readonly ModuleList<OptDecoderLayer> llm_layers;
    private readonly LayerNorm? final_layer_norm;
    private readonly Linear? to_memory;
    private readonly StopHead fc;
    private readonly Parameter? start_vector;
    private readonly Dropout dropout;

    /// <summary>A new model: backbone initialised as OPT (N(0, init_std)), the SentenceVAE as PyTorch does.</summary>
    public SentenceLlm(SentenceLlmConfig config) : base(nameof(SentenceLlm))
    {
        Config = config.Validate();
        int vector = config.Svae.HiddenSize, hidden = config.Backbone.HiddenSize;
        svae = new SentenceVaeModel(config.Svae);
        if (vector != hidden) in_proj = nn.Linear(vector, hidden, hasBias: false);
        llm_pe = nn.Embedding(config.Backbone.MaxPositionEmbeddings + OptLayers.PositionOffset, hidden);
        llm_layers = nn.ModuleList(Enumerable.Range(0, config.Backbone.NumHiddenLayers).Select(_ => new OptDecoderLayer(config.Backbone)).ToArray());
        if (config.Projected)
        {
            final_layer_norm = nn.LayerNorm(hidden);
            to_memory = nn.Linear(hidden, config.MemoryVectors * vector);
        }
        fc = new StopHead(hidden);
        if (config.UseStartVector) start_vector = new Parameter(zeros(1, 1, vector));
        dropout = nn.Dropout(config.Backbone.Dropout);
        RegisterComponents();
        OptLayers.Init(llm_pe, config.Backbone.InitStd);
        OptLayers.Init(llm_layers, config.Backbone.InitStd);
        if (in_proj is not null) OptLayers.Init(in_proj, config.Backbone.InitStd);
        if (to_memory is not null) OptLayers.Init(to_memory, config.Backbone.InitStd);
        using (no_grad()) start_vector?.normal_(0, config.Backbone.InitStd);
    }

    /// <summary>The model's shape.</summary>
    public SentenceLlmConfig Config { get; }
    /// <summary>The Sentence Encoder and Decoder.</summary>
    public SentenceVaeModel Svae => svae;
    /// <summary>Backbone layers.</summary>
    public int NumLayers => llm_layers.Count;
    /// <summary>An empty backbone KV cache for generation.</summary>
    public KvCache NewCache() => new(llm_layers.Count);

    /// <summary>The backbone over sentence vectors (B, S, C_vae) with mask (B, past+S): outputs (B, S, C_backbone), causal.</summary>
    public Tensor Backbone(Tensor vectors, Tensor sentenceMask, KvCache? cache = null)
    {
        var x = in_proj is null ? vectors : in_proj.forward(vectors);                                       // (B, S, C)
        x = OptLayers.Run(llm_pe, llm_layers, dropout, Config.MaxPositions, x, sentenceMask, cache);         // (B, S, C)
        return final_layer_norm is null ? x : final_layer_norm.forward(x);
    }

    /// <summary>One sentence vector (n, 1, C_vae) for each row of a decoding engine, each at its own position: outputs (n, C_backbone).</summary>
    public Tensor BackboneStep(Tensor vectors, SlotKvCache.SlotStep step)
    {
        var x = in_proj is null ? vectors : in_proj.forward(vectors);                                       // (n, 1, C)
        x = OptLayers.Step(llm_pe, llm_layers, dropout, x, step);                                           // (n, 1, C)
        return (final_layer_norm is null ? x : final_layer_norm.forward(x)).squeeze(1);                     // (n, C)
    }

    /// <summary>A decoding engine's backbone cache: <paramref name="slots"/> rows of <paramref name="positions"/> positions each, kept in <paramref name="dtype"/> (float32 when not given).</summary>
    public SlotKvCache NewSlotCache(int slots, int positions, Device device, ScalarType dtype = ScalarType.Float32) =>
        new(llm_layers.Count, slots, Config.Backbone.NumAttentionHeads, positions, Config.Backbone.HeadDim, dtype, device);

    /// <summary>Stop-flag logits (…, 2) of backbone outputs.</summary>
    public Tensor StopLogits(Tensor hidden) => fc.forward(hidden);

    /// <summary>The start vector for B rows (B, 1, C_vae); only with <see cref="SentenceLlmConfig.UseStartVector"/>.</summary>
    public Tensor StartVectors(long b) => (start_vector ?? throw new InvalidOperationException("this model has no start vector")).expand(b, 1, -1);

    /// <summary>
    /// What the Sentence Decoder reads to write a piece: from backbone outputs (N, C_backbone) the memory
    /// (N, M, C_vae) and its mask (N, M) (null when all real) — k vectors, then (with
    /// <see cref="SentenceLlmConfig.ReadPreviousPiece"/>) the previous piece's encoder states (N, T, C_vae)
    /// under their mask (N, T) (all 0 where no piece came before).
    /// </summary>
    public (Tensor Memory, Tensor? Mask) DecoderMemory(Tensor hidden, Tensor? previousStates, Tensor? previousMask)
    {
        long n = hidden.shape[0];
        var vectors = to_memory is null ? hidden.unsqueeze(1) : to_memory.forward(hidden).view(n, Config.MemoryVectors, Config.Svae.HiddenSize);   // (N, k, C)
        if (training && Config.VectorNoise > 0) vectors = vectors + randn_like(vectors) * Config.VectorNoise;
        if (!Config.ReadPreviousPiece) return (vectors, null);
        if (previousStates is null || previousMask is null) throw new ArgumentException("this model reads the previous piece: pass its encoder states and mask");
        var mask = cat([ones(n, vectors.shape[1], dtype: ScalarType.Int64, device: hidden.device), previousMask.to(ScalarType.Int64)], 1);
        return (cat([vectors, previousStates], 1), mask);                                                  // (N, k+T, C), (N, k+T)
    }

    /// <summary>
    /// Teacher-forced scores of a batch of windows, following <see cref="NextPiecePlan"/>.
    /// </summary>
    /// <param name="pieceIds">(B, S, T) each piece as BOS + tokens, PAD after (absent pieces: a row of PAD)</param>
    /// <param name="pieceMask">(B, S, T) 1 for real tokens (absent pieces: all 0)</param>
    /// <param name="layout">per row: how many pieces are real, whether the window starts / ends its document, the first piece to score</param>
    /// <param name="loss">cross entropy (the objective is the summed NLL per token, what bits per byte measures) or the paper's focal loss</param>
    /// <param name="reconstructionWeight">adds this times the autoencoder loss (each piece decoded from its own vector)</param>
    /// <param name="focalGamma">γ of the focal loss (only with <see cref="LossKind.Focal"/>)</param>
    public SentenceLlmLoss forward(Tensor pieceIds, Tensor pieceMask, IReadOnlyList<PieceWindowLayout> layout,
        LossKind loss = LossKind.CrossEntropy, double focalGamma = 2.0, double reconstructionWeight = 0)
    {
        long b = pieceIds.shape[0], s = pieceIds.shape[1], t = pieceIds.shape[2];
        var device = pieceIds.device;
        var flatIds = pieceIds.reshape(b * s, t);                                                       // (B·S, T)
        var flatMask = pieceMask.reshape(b * s, t);
        var encoderMask = flatMask.clone();
        encoderMask.select(1, 0).fill_(1);                                                              // absent pieces: a lone BOS keeps attention defined
        var (encoded, states) = EncodeByLength(flatIds, encoderMask);                                  // (B·S, 1, C), (B·S, T, C)
        var realPiece = flatMask.select(1, 0).to(encoded.dtype).view(b, s, 1);
        var vectors = encoded.view(b, s, -1) * realPiece;                                               // (B, S, C)

        bool startVector = Config.UseStartVector;
        var sequence = startVector ? cat([StartVectors(b), vectors], 1) : vectors;                      // (B, P, C)
        var lengths = layout.Select(w => (long)w.Pieces + (startVector ? 1 : 0)).ToArray();
        var sequenceMask = arange(sequence.shape[1], device: device).unsqueeze(0).lt(tensor(lengths, device: device).unsqueeze(1)).to(ScalarType.Int64);
        var hidden = Backbone(sequence, sequenceMask);                                                  // (B, P, C_backbone)

        var plan = NextPiecePlan.For(layout, startVector);
        Tensor Index(IEnumerable<long> values) => tensor(values.ToArray(), dtype: ScalarType.Int64, device: device);
        var stopLogits = StopLogits(hidden.index([Index(plan.Stops.Select(d => (long)d.Row)), Index(plan.Stops.Select(d => (long)d.Position))]));   // (N_stop, 2)
        var stopTargets = Index(plan.Stops.Select(d => (long)d.Target));
        var stopNll = -stopLogits.log_softmax(-1).gather(1, stopTargets.unsqueeze(1)).sum();

        var p = plan.Predictions;
        var predictors = hidden.index([Index(p.Select(x => (long)x.Row)), Index(p.Select(x => (long)x.Position))]);   // (N, C_backbone)
        var targetFlat = Index(p.Select(x => x.Row * s + x.Piece));
        Tensor? previousStates = null, previousMask = null;
        if (Config.ReadPreviousPiece)
        {
            var previousFlat = Index(p.Select(x => x.Row * s + Math.Max(0, x.PreviousPiece)));
            var hasPrevious = Index(p.Select(x => x.PreviousPiece >= 0 ? 1L : 0L)).unsqueeze(1);
            previousStates = states.index(previousFlat);                                                  // (N, T, C)
            previousMask = flatMask.index(previousFlat) * hasPrevious;                                    // (N, T)
        }
        var (memory, memoryMask) = DecoderMemory(predictors, previousStates, previousMask);
        var targetIds = flatIds.index(targetFlat);                                                      // (N, T)
        var targetMask = flatMask.index(targetFlat);                                                    // (N, T)
        var goals = svae.TargetIds(targetIds, targetMask).narrow(1, 1, t);                             // (N, T)
        var decodedTokens = new List<Tensor>();
        var targetTokens = new List<Tensor>();
        var planOrder = new List<Tensor>();
        var tokenIndex = (targetMask.flatten().cumsum(0) - 1).view(targetMask.shape);                  // (N, T): each real token's place in plan order
        var previousLengths = memoryMask?.sum(1);                                                       // (N): k + the previous piece's length
        foreach (var (rows, length) in LengthChunks(targetMask))
        {
            // Pieces of similar length together: each chunk is padded only to its own longest piece.
            var chunkMask = targetMask.index(rows).narrow(1, 0, length);
            var chunkMemory = memory.index(rows);
            Tensor? chunkMemoryMask = null;
            if (memoryMask is not null)
            {
                long m = previousLengths!.index(rows).max().item<long>();
                chunkMemory = chunkMemory.narrow(1, 0, m);
                chunkMemoryMask = memoryMask.index(rows).narrow(1, 0, m);
            }
            var hiddenStates = svae.Decoder.Hidden(targetIds.index(rows).narrow(1, 0, length), chunkMemory, chunkMask, chunkMemoryMask);   // (n, L, C)
            var realTokens = chunkMask.to(ScalarType.Bool);
            decodedTokens.Add(hiddenStates[realTokens]);
            targetTokens.Add(goals.index(rows).narrow(1, 0, length)[realTokens]);
            planOrder.Add(tokenIndex.index(rows).narrow(1, 0, length)[realTokens]);
        }
        if (decodedTokens.Count == 0)                                                                   // nothing predicted (a window of context only)
        {
            decodedTokens.Add(zeros(0, Config.Svae.HiddenSize, device: device));
            targetTokens.Add(zeros(0, dtype: ScalarType.Int64, device: device));
            planOrder.Add(zeros(0, dtype: ScalarType.Int64, device: device));
        }
        var inPlanOrder = cat(planOrder, 0).argsort();                                                  // the chunks' tokens back in the plan's order
        var tokenLogits = svae.Decoder.Logits(cat(decodedTokens, 0).index(inPlanOrder));                // (N_tok, V): padding never projected
        var tokenTargets = cat(targetTokens, 0).index(inPlanOrder);                                     // (N_tok)
        var tokenNll = -tokenLogits.log_softmax(-1).gather(1, tokenTargets.unsqueeze(1)).sum();
        long tokens = tokenTargets.shape[0];

        var objective = loss == LossKind.Focal
            ? Losses.Focal(tokenLogits, tokenTargets, focalGamma) + Losses.Focal(stopLogits, stopTargets, focalGamma)
            : (tokenNll + stopNll) / Math.Max(1, tokens);
        if (reconstructionWeight > 0)
        {
            var realFlat = flatMask.select(1, 0).nonzero().squeeze(1);
            var ids = flatIds.index(realFlat);
            var mask = flatMask.index(realFlat);
            var realTokens = mask.to(ScalarType.Bool);
            var reconstruction = svae.Decoder.Logits(svae.Decoder.Hidden(ids, encoded.index(realFlat), mask)[realTokens]);   // (R_tok, V)
            var goal = svae.TargetIds(ids, mask).narrow(1, 1, t)[realTokens];
            objective = objective + reconstructionWeight * Losses.CrossEntropy(reconstruction, goal);
        }
        return new SentenceLlmLoss(objective, tokenNll, stopNll, tokens, plan.Stops.Count, tokenLogits, stopLogits);
    }

    /// <summary>The encoder over many pieces (N, T), in chunks of similar length: vectors (N, 1, C) and token states (N, T, C), 0 past each piece.</summary>
    private (Tensor Vectors, Tensor States) EncodeByLength(Tensor ids, Tensor mask)
    {
        long n = ids.shape[0], t = ids.shape[1];
        var order = new List<Tensor>();
        var vectors = new List<Tensor>();
        var states = new List<Tensor>();
        foreach (var (rows, length) in LengthChunks(mask))
        {
            var (v, st) = svae.Encoder.Encode(ids.index(rows).narrow(1, 0, length), mask.index(rows).narrow(1, 0, length));
            order.Add(rows);
            vectors.Add(v);
            states.Add(nn.functional.pad(st, [0, 0, 0, t - length]));                                  // (n, T, C)
        }
        var inverse = cat(order, 0).argsort();                                                          // sorted position of each piece
        return (cat(vectors, 0).index(inverse), cat(states, 0).index(inverse));
    }

    /// <summary>Row indices of a (N, T) mask grouped by length (shortest first, 64 rows a group), with each group's longest length.</summary>
    private static IEnumerable<(Tensor Rows, long Length)> LengthChunks(Tensor mask, int size = 64)
    {
        var lengths = mask.sum(1).cpu().data<long>().ToArray();
        var sorted = Enumerable.Range(0, lengths.Length).OrderBy(i => lengths[i]).ToArray();
        for (int start = 0; start < sorted.Length; start += size)
        {
            var rows = sorted.Skip(start).Take(size).Select(i => (long)i).ToArray();
            yield return (tensor(rows, device: mask.device), Math.Max(1, rows.Max(i => lengths[i])));
        }
    }

    /// <summary>Freezes the SentenceVAE and/or all backbone layers but the first and last <paramref name="finetuneLayers"/> (the reference's finetune_layers; −1 trains all).</summary>
    public void Freeze(bool freezeSvae, int finetuneLayers)
    {
        if (freezeSvae) foreach (var p in svae.parameters()) p.requires_grad = false;
        if (finetuneLayers >= 0 && finetuneLayers * 2 < llm_layers.Count)
            for (int i = finetuneLayers; i < llm_layers.Count - finetuneLayers; i++)
                foreach (var p in llm_layers[i].parameters()) p.requires_grad = false;
    }
}
