using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using SentenceVae.Inference;
using SentenceVae.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Evaluation;

/// <summary>
/// The paper's sizes with random weights (fp32): OPT-125M/350M/1.3B against SLLMs of that backbone over
/// a SentenceVAE of hidden 768/1024/2048 with H encoder and decoder layers. Caches are filled as after
/// the prompt (random keys/values: decode speed depends on their length, not their values); then the
/// token model and the SLLM write the same number of tokens, interleaved run by run.
/// </summary>
public static class PaperBench
{
    /// <summary>The OPT decoder of a size.</summary>
    public static OptConfig Backbone(string size) => (size switch
    {
        "125m" => OptConfig.Presets.Opt125M,
        "350m" => OptConfig.Presets.Opt350M,
        "1.3b" => OptConfig.Presets.Opt1_3B,
        "tiny" => new OptConfig { HiddenSize = 64, NumHiddenLayers = 2, FfnDim = 128, NumAttentionHeads = 4, MaxPositionEmbeddings = 256 },   // for tests
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, "sizes: 125m, 350m, 1.3b (and tiny, for tests)"),
    }) with { Dropout = 0 };

    /// <summary>The reference SLLM-{size}-H{h} (BestAnHongjun/SentenceVAE config/SLLM): that OPT decoder over a SentenceVAE of its width.</summary>
    public static SentenceLlmConfig Sllm(string size, int h, int decoderVocab)
    {
        var backbone = Backbone(size);
        return new SentenceLlmConfig
        {
            Backbone = backbone,
            Svae = new SentenceVaeConfig
            {
                HiddenSize = backbone.HiddenSize, NumAttentionHeads = backbone.NumAttentionHeads, NumHiddenLayers = h, FfnDim = backbone.FfnDim,
                VocabSize = decoderVocab, WordEmbedProjDim = backbone.WordEmbedProjDim, MaxSeqLen = 64, Dropout = 0,
                BosId = 2, PadId = 1, EosId = 2,
            },
        };
    }

    /// <summary>Runs the whole matrix; each run's bounds come from a plain read timed beside it (<see cref="WeightRead"/>).</summary>
    public static List<PaperBenchRow> Run(PaperBenchOptions options, Action<string>? log = null) => Run(options, log, []);

    /// <summary>As <see cref="Run(PaperBenchOptions, Action{string}?)"/>, listing the pairs left out for memory in <paramref name="skipped"/>.</summary>
    public static List<PaperBenchRow> Run(PaperBenchOptions options, Action<string>? log, List<string> skipped)
    {
        log ??= _ => { };
        using var read = new WeightRead();
        var rows = new List<PaperBenchRow>();
        int output = options.PiecesPerRun * options.TokensPerPiece;
        using var noGrad = no_grad();
        foreach (var size in options.Sizes)
        {
            manual_seed(0);
            log($"{size}: building OPT-{size}");
            FreeReleasedTensors();
            using var baseline = new OptForCausalLm(Backbone(size));
            foreach (int vocab in options.DecoderVocabs)
                foreach (int h in options.H)
                {
                    log($"{size}: building SLLM-{size}-H{h} (decoder vocabulary {vocab})");
                    FreeReleasedTensors();
                    using var sllm = new SentenceLlm(Sllm(size, h, vocab));
                    var prompts = vocab == options.DecoderVocabs[0] ? options.Prompts : [options.CompactPrompt];
                    foreach (int batch in options.Batches)
                        foreach (int wanted in prompts)
                        {
                            int room = (options.Runs + 1) * output;
                            int prompt = Math.Min(wanted, Backbone(size).MaxPositionEmbeddings - room - 1);
                            // Both models, their decoding heads and the token model's cache must fit in memory.
                            long need = Bytes(baseline) + Bytes(sllm) + (long)(EngineTiming.KvBytesPerToken(baseline.Config) * batch * (prompt + room + 1));
                            if (need > options.MemoryBudgetBytes)
                            {
                                log($"{size} H{h} V{vocab} batch {batch} prompt {prompt}: skipped, needs ~{need / 1e9:0.0} GB (budget {options.MemoryBudgetBytes / 1e9:0.0} GB)");
                                skipped.Add($"{size} H{h} decoder vocab {vocab} batch {batch} prompt {prompt} (~{need / 1e9:0.0} GB)");
                                continue;
                            }
                            var row = Pair(baseline, sllm, options.TokensPerPiece, batch, prompt, room, output, options.Runs, read, options.Weights) with { Size = size, H = h, DecoderVocab = vocab };
                            rows.Add(row);
                            log($"{size} H{h} V{vocab} batch {batch} prompt {prompt}: {row.BaselineTokensPerS:0.0} vs {row.SllmTokensPerS:0.0} tok/s = {row.SpeedRatio:0.00}x; " +
                                $"token step {row.BaselineStepMs:0.0} ms = {row.BaselineVsBound:0.00}x its bound, decoder step {row.SllmTokenStepMs:0.00} ms = {row.SllmTokenVsBound:0.00}x, " +
                                $"piece step {row.SllmPieceStepMs:0.0} ms = {row.SllmPieceVsBound:0.00}x (read {row.ReadGBPerS:0.0} GB/s)");
                        }
                }
        }
        return rows;
    }

    /// <summary>
    /// Tensor wrappers that .NET code dropped without disposing (e.g. those parameters() hands out) keep
    /// their memory until the garbage collector finalizes them; a model of gigabytes must be gone before
    /// the next is built, so collect now (measured: without this the 1.3B runs ran out of 24 GB).
    /// </summary>
    private static void FreeReleasedTensors()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    // Weights and the decoding head's transposed copy.
    private static long Bytes(OptForCausalLm model) => EngineTiming.TokenStepBytes(model) + (long)model.Config.VocabSize * model.Config.EmbedDim * sizeof(float);
    private static long Bytes(SentenceLlm model) => EngineTiming.ParameterBytes(model.parameters()) + (long)model.Config.Svae.VocabSize * model.Config.Svae.HiddenSize * sizeof(float);

    // Each model's engine made once (caches sized to the timed context); every run is new rows joining it (their
    // random context not timed) and written to their end; runs interleaved, after warm-up runs until the timings settle.
    // Each run's bounds are its weight bytes read at the bandwidth plain reads reached around it (median of three).
    private static PaperBenchRow Pair(OptForCausalLm baseline, SentenceLlm sllm, int tokensPerPiece, int batch, int prompt, int room, int output, int runs, WeightRead read,
        WeightFormat? weights)
    {
        FreeReleasedTensors();
        using var tokens = new TokenEngine(baseline, baseline.Config.EosTokenId, batch, prompt + output + 1, weights);
        using var pieces = new SentenceEngine(sllm, batch, positions: EngineTiming.Pieces(prompt + output + 1, tokensPerPiece) + 2, weights: weights);
        var tb = new List<double>();
        var ts = new List<double>();
        var stepMs = new List<double>();
        var decoderMs = new List<double>();
        var profiles = new List<Dictionary<string, double>>();
        var bandwidths = new List<double>();
        var warmUp = new List<(double Token, double Sllm)>();
        // One-time work first (packing the kernels' weights, first calls), then warm-up runs until the timings settle.
        double oneTime = EngineTiming.WarmUp(tokens, () => Enumerable.Range(0, batch).Select(_ => (DecodeRow)EngineTiming.TokenRow(prompt, output)).ToList())
            + EngineTiming.WarmUp(pieces, () => Enumerable.Range(0, batch).Select(_ => (DecodeRow)EngineTiming.PieceRow(prompt, output + 1, tokensPerPiece)).ToList());
        for (int r = 0; r <= runs; r++)
        {
            double before = read.BytesPerSecond();
            double b = EngineTiming.Write(tokens, Enumerable.Range(0, batch).Select(_ => EngineTiming.TokenRow(prompt, output)).ToList());
            double between = read.BytesPerSecond();
            foreach (var key in pieces.Profile.Keys.ToList()) pieces.Profile[key] = 0;
            int decoderCalls = pieces.DecoderCalls, pieceCalls = pieces.PieceCalls;
            // One token past the output's last piece, so every piece written is followed by its per-piece work
            // (as in the steady state); seconds per token count that token too.
            double s = EngineTiming.Write(pieces, Enumerable.Range(0, batch).Select(_ => EngineTiming.PieceRow(prompt, output + 1, tokensPerPiece)).ToList())
                * output / (output + 1);
            double bandwidth = Statistics.Median([before, between, read.BytesPerSecond()]);   // reads around the two timings: one slow moment does not set the bound
            if (r == 0)
            {
                // Warm up until both timings settle (each within 5 % of the warm-up before it; at most five): the first
                // seconds after building a model ran up to 1.5× slow (token step 23.9, 21.3, 17.1, 15.8 ms in one measured run), and a
                // single warm-up left that in the first pair of a run — the outliers two runs disagreed on.
                warmUp.Add((b, s));
                bool settled = warmUp.Count > 1 && Math.Abs(b / warmUp[^2].Token - 1) < 0.05 && Math.Abs(s / warmUp[^2].Sllm - 1) < 0.05;
                if (!settled && warmUp.Count < 5) r--;
                continue;
            }
            bandwidths.Add(bandwidth);
            tb.Add(b);
            ts.Add(s);
            stepMs.Add(b * 1e3 / output);
            decoderMs.Add(pieces.Profile["decoder"] / (pieces.DecoderCalls - decoderCalls));
            int calls = pieces.PieceCalls - pieceCalls;
            profiles.Add(new Dictionary<string, double>
            {
                ["decoder"] = pieces.Profile["decoder"] / calls, ["encoder"] = pieces.Profile["encoder"] / calls,
                ["backbone"] = pieces.Profile["backbone"] / calls, ["stop_and_memory"] = pieces.Profile["stop_and_memory"] / calls,
            });
        }
        var profile = profiles[0].Keys.ToDictionary(k => k, k => Statistics.Median(profiles.Select(p => p[k])));
        var pieceMs = profiles.Select(p => p["encoder"] + p["backbone"] + p["stop_and_memory"]).ToList();
        long tokenBytes = EngineTiming.TokenStepBytes(baseline, weights), decoderBytes = EngineTiming.DecoderStepBytes(sllm, weights), pieceBytes = EngineTiming.PieceStepBytes(sllm, weights);
        double Bound(long bytes, int run) => bytes / bandwidths[run] * 1e3;
        double VsBound(List<double> ms, long bytes) => Statistics.Median(ms.Select((m, run) => m / Bound(bytes, run)));
        long fp32Token = EngineTiming.TokenStepBytes(baseline), fp32Decoder = EngineTiming.DecoderStepBytes(sllm), fp32Piece = EngineTiming.PieceStepBytes(sllm);
        return new PaperBenchRow
        {
            Size = "", Batch = batch, PromptTokens = prompt,
            BaselineTokensPerS = batch * output / Statistics.Median(tb), SllmTokensPerS = batch * output / Statistics.Median(ts),
            SpeedRatio = Statistics.Median(tb.Zip(ts, (b, s) => b / s)),
            ReadGBPerS = Statistics.Median(bandwidths) / 1e9,
            BaselineStepMs = Statistics.Median(stepMs), BaselineBoundMs = tokenBytes / Statistics.Median(bandwidths) * 1e3, BaselineVsBound = VsBound(stepMs, tokenBytes),
            SllmTokenStepMs = Statistics.Median(decoderMs), SllmTokenBoundMs = decoderBytes / Statistics.Median(bandwidths) * 1e3, SllmTokenVsBound = VsBound(decoderMs, decoderBytes),
            SllmPieceStepMs = Statistics.Median(pieceMs), SllmPieceBoundMs = pieceBytes / Statistics.Median(bandwidths) * 1e3, SllmPieceVsBound = VsBound(pieceMs, pieceBytes),
            VsFp32Bound = new Dictionary<string, double> { ["baseline"] = VsBound(stepMs, fp32Token), ["sllm_token"] = VsBound(decoderMs, fp32Decoder), ["sllm_piece"] = VsBound(pieceMs, fp32Piece) },
            Weights = WeightFormats.Name(weights), WarmUpSeconds = oneTime,
            KvRatio = EngineTiming.KvBytesPerToken(sllm.Config, tokensPerPiece) / EngineTiming.KvBytesPerToken(baseline.Config),
            BaselineParams = baseline.ParameterCount(), SllmParams = EngineTiming.ParameterBytes(sllm.parameters()) / sizeof(float), SllmProfileMs = profile, ProcessBytes = Environment.WorkingSet,
        };
    }

    /// <summary>The rows as a markdown table, with the tokens per piece.</summary>
    public static string Markdown(IReadOnlyList<PaperBenchRow> rows, int tokensPerPiece, string date)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Paper sizes, random weights, {date}; pieces of {tokensPerPiece} tokens. Speed ratio = median of per-run ratios; steps in ms, " +
                      "then × their bound: the step's weight bytes (in the format the step reads) at the bandwidth of plain reads timed around each run (median of per-run ratios); " +
                      "for bf16 rows also × the bound of the same weights in fp32.");
        sb.AppendLine();
        sb.AppendLine("| size | H | decoder vocab | weights | batch | prompt | OPT tok/s | SLLM tok/s | speed ratio | read GB/s | OPT step (× bound) | decoder step (× bound) | piece step (× bound) | KV ratio |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            sb.AppendLine($"| {r.Size} | {r.H} | {r.DecoderVocab} | {r.Weights} | {r.Batch} | {r.PromptTokens} | {r.BaselineTokensPerS:0.0} | {r.SllmTokensPerS:0.0} | {r.SpeedRatio:0.00}x | {r.ReadGBPerS:0.0} | " +
                          $"{r.BaselineStepMs:0.0} ({Ratios(r, r.BaselineVsBound, "baseline")}) | {r.SllmTokenStepMs:0.00} ({Ratios(r, r.SllmTokenVsBound, "sllm_token")}) | {r.SllmPieceStepMs:0.0} ({Ratios(r, r.SllmPieceVsBound, "sllm_piece")}) | {r.KvRatio:0.000} |");
        return sb.ToString();
    }

    private static string Ratios(PaperBenchRow r, double vsBound, string step) =>
        r.Weights == "bf16" && r.VsFp32Bound.TryGetValue(step, out var fp32) ? $"{vsBound:0.00}x; {fp32:0.00}x fp32" : $"{vsBound:0.00}x";
}
