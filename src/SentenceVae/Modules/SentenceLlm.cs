using SentenceVae.Inference;
using SentenceVae.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>Losses of a batch of sentence windows (each a scalar with gradient) and how many targets they averaged.</summary>
public sealed record SentenceLlmLoss(Tensor Decode, Tensor Stop, long DecodedTokens, long StopTargets)
{
    public Tensor Total => Decode + Stop;
}

/// <summary>
/// The paper's sentence-level LLM. Pieces → <c>svae</c>'s Sentence Encoder → one vector each (+ learned
/// positions <c>llm_pe</c>, as OPT) → OPT decoder layers <c>llm_layers</c> under a CAUSAL mask → the
/// output at piece i feeds the <see cref="StopHead"/> <c>fc</c> (stop / continue) and the Sentence
/// Decoder, which writes piece i+1. A learned <c>start_vector</c> in front lets the model predict a
/// document's first piece. Keys match the reference SLLM (<c>svae.*</c>, <c>llm_pe.*</c>,
/// <c>llm_layers.N.*</c>, <c>fc.*</c>); the reference calls its layers without a mask, which lets
/// every position see the next piece — this one cannot.
/// </summary>
public sealed class SentenceLlm : nn.Module
{
    private readonly Modules.SentenceVae svae;
    private readonly Embedding llm_pe;
    private readonly ModuleList<OptDecoderLayer> llm_layers;
    private readonly StopHead fc;
    private readonly Parameter? start_vector;
    private readonly Dropout dropout;

    public SentenceLlm(SentenceLlmConfig config) : base(nameof(SentenceLlm))
    {
        Config = config.Validate();
        svae = new Modules.SentenceVae(config.Svae);
        llm_pe = nn.Embedding(config.Backbone.MaxPositionEmbeddings + OptDecoder.PositionOffset, config.Backbone.HiddenSize);
        llm_layers = nn.ModuleList(Enumerable.Range(0, config.Backbone.NumHiddenLayers).Select(_ => new OptDecoderLayer(config.Backbone)).ToArray());
        fc = new StopHead(config.Backbone.HiddenSize);
        if (config.UseStartVector) start_vector = new Parameter(zeros(1, 1, config.Backbone.HiddenSize));
        dropout = nn.Dropout(config.Backbone.Dropout);
        RegisterComponents();
        using (no_grad())
        {
            llm_pe.weight!.normal_(0, config.Backbone.InitStd);
            foreach (var (name, p) in llm_layers.named_parameters())
                if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
                else if (p.dim() == 2) p.normal_(0, config.Backbone.InitStd);
            start_vector?.normal_(0, config.Backbone.InitStd);
        }
    }

    public SentenceLlmConfig Config { get; }
    public Modules.SentenceVae Svae => svae;
    public int NumLayers => llm_layers.Count;
    public KvCache NewCache() => new(llm_layers.Count);

    /// <summary>The backbone over sentence vectors (B, S, C) with mask (B, past+S): hidden states (B, S, C), causal.</summary>
    public Tensor Backbone(Tensor vectors, Tensor sentenceMask, KvCache? cache = null)
    {
        int past = cache?.Length ?? 0;
        long s = vectors.shape[1];
        if (past + s > Config.MaxPositions) throw new ArgumentException($"{past + s} sentence positions exceed the backbone's {Config.MaxPositions}");
        var mask = sentenceMask.to(ScalarType.Int64);
        var x = dropout.forward(vectors + llm_pe.forward(OptDecoder.Positions(mask, past, s)));   // (B, S, C)
        using var attn = AttentionMasks.CausalPadding(mask, past, s, x.dtype);                   // (B, 1, S, past+S)
        for (int i = 0; i < llm_layers.Count; i++) x = llm_layers[i].forward(x, attn, cache, i);
        return x;                                                                                // (B, S, C)
    }

    /// <summary>Stop-flag logits (…, 2) of hidden states.</summary>
    public Tensor StopLogits(Tensor hidden) => fc.forward(hidden);

    /// <summary>The start vector for B rows (B, 1, C); only with <see cref="SentenceLlmConfig.UseStartVector"/>.</summary>
    public Tensor StartVectors(long b) => (start_vector ?? throw new InvalidOperationException("this model has no start vector")).expand(b, 1, -1);

    /// <summary>
    /// Teacher-forced losses of a batch of windows.
    /// </summary>
    /// <param name="pieceIds">(B, S, T) each piece as BOS + tokens, PAD after</param>
    /// <param name="pieceMask">(B, S, T) 1 for real tokens</param>
    /// <param name="sentenceMask">(B, S) 1 for real pieces (a prefix of each row)</param>
    /// <param name="startsDocument">per row: the window begins at its document's start (its first piece is predicted from the start vector)</param>
    /// <param name="endsDocument">per row: the window ends at its document's end (the last position's target is "stop")</param>
    public SentenceLlmLoss forward(Tensor pieceIds, Tensor pieceMask, Tensor sentenceMask, bool[] startsDocument, bool[] endsDocument, double focalGamma = 2.0)
    {
        long b = pieceIds.shape[0], s = pieceIds.shape[1], t = pieceIds.shape[2];
        var device = pieceIds.device;
        var realPiece = sentenceMask.to(ScalarType.Bool);                                               // (B, S)
        var flatIds = pieceIds.reshape(b * s, t);
        var flatMask = pieceMask.reshape(b * s, t).clone();
        flatMask.select(1, 0).fill_(1);                                                                 // padded pieces: a lone BOS keeps attention defined
        var vectors = svae.Encoder.forward(flatIds, flatMask).view(b, s, -1)                            // (B, S, C)
            * realPiece.unsqueeze(-1).to(ScalarType.Float32);

        // With a start vector, position j predicts piece j (0-based); without, position j predicts piece j+1.
        int shift = Config.UseStartVector ? 1 : 0;
        var sequence = shift == 1 ? cat([StartVectors(b), vectors], 1) : vectors;                    // (B, S+shift, C)
        var sequenceMask = shift == 1 ? cat([ones(b, 1, dtype: ScalarType.Int64, device: device), sentenceMask.to(ScalarType.Int64)], 1) : sentenceMask.to(ScalarType.Int64);
        var hidden = Backbone(sequence, sequenceMask);                                                  // (B, P, C)

        // Which (row, position) predicts which piece, and the stop targets.
        var lengths = sentenceMask.to(ScalarType.Int64).sum(dim: 1).cpu().data<long>().ToArray();
        var predictRows = new List<long>(); var predictPositions = new List<long>(); var predictPieces = new List<long>();
        var stopRows = new List<long>(); var stopPositions = new List<long>(); var stopTargets = new List<long>();
        for (int row = 0; row < b; row++)
        {
            int n = (int)lengths[row];
            for (int piece = 0; piece < n; piece++)
            {
                int position = piece - 1 + shift;
                if (position < 0 || (shift == 1 && piece == 0 && !startsDocument[row])) continue;   // a mid-document window's first piece is context only
                predictRows.Add(row); predictPositions.Add(position); predictPieces.Add(piece);
            }
            int firstStop = shift == 1 && !startsDocument[row] ? 1 : 0;
            for (int position = firstStop; position < n + shift; position++)
            {
                stopRows.Add(row); stopPositions.Add(position);
                bool last = position == n - 1 + shift;
                stopTargets.Add(last && endsDocument[row] ? StopHead.Stop : StopHead.Continue);
            }
        }
        Tensor Index(List<long> values) => tensor(values.ToArray(), device: device);

        var stopLogits = StopLogits(hidden.index([Index(stopRows), Index(stopPositions)]));            // (N_stop, 2)
        var stopLoss = Losses.Focal(stopLogits, Index(stopTargets), focalGamma);

        var memory = hidden.index([Index(predictRows), Index(predictPositions)]).unsqueeze(1);         // (N, 1, C)
        var targetIds = pieceIds.index([Index(predictRows), Index(predictPieces)]);                     // (N, T)
        var targetMask = pieceMask.index([Index(predictRows), Index(predictPieces)]);                   // (N, T)
        var logits = svae.Decoder.forward(targetIds, memory, targetMask);                               // (N, T, V)
        var targets = svae.TargetIds(targetIds, targetMask).narrow(1, 1, t);                            // (N, T)
        var real = targetMask.to(ScalarType.Bool);
        var decodeLoss = Losses.Focal(logits[real], targets[real], focalGamma);
        return new SentenceLlmLoss(decodeLoss, stopLoss, real.sum().item<long>(), stopTargets.Count);
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
