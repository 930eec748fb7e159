using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using SentenceVae.Inference;
using SentenceVae.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Evaluation;

/// <summary>
/// Timing the decoding engines (<see cref="IDecodeEngine"/>) — the code that serves — on rows whose
/// prompt is a context of random keys and values (<see cref="DecodeRow.RandomContext"/>: a step's cost
/// depends on the past's length, not its values), and the weight bytes each kind of step reads.
/// </summary>
public static class EngineTiming
{
    /// <summary>Rows join <paramref name="engine"/> (not timed); then the seconds until every one has ended.</summary>
    public static double Write(IDecodeEngine engine, IReadOnlyList<DecodeRow> rows)
    {
        foreach (var row in rows) engine.Add(row);
        TimingStarts.Value?.Invoke(engine);
        var clock = Stopwatch.StartNew();
        while (engine.Count > 0) engine.Step();
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Called with the engine just before each timed region starts (tests read what the engine has done by then).</summary>
    internal static readonly AsyncLocal<Action<IDecodeEngine>?> TimingStarts = new();

    /// <summary>Steps a warm-up runs at the least: enough calls for .NET's tiered JIT to have optimised the step's code.</summary>
    public const int WarmUpSteps = 64;

    /// <summary>
    /// The one-time work of an engine, before anything is timed: rows of <paramref name="rows"/> run to their
    /// end until the engine has packed its kernels' weights (a weight format), at least <paramref name="steps"/>
    /// steps have run (first calls), and two rounds in a row took the same time per step within 5 % (the JIT
    /// promotes hot code in the background a while after its first calls; at most 20 rounds). Returns the
    /// seconds it took.
    /// </summary>
    public static double WarmUp(IDecodeEngine engine, Func<IReadOnlyList<DecodeRow>> rows, int steps = WarmUpSteps)
    {
        var clock = Stopwatch.StartNew();
        int done = 0, rounds = 0;
        double previous = double.NaN, perStep = double.NaN;
        do
        {
            previous = perStep;
            foreach (var row in rows()) engine.Add(row);
            var round = Stopwatch.StartNew();
            int before = done;
            for (; engine.Count > 0; done++) engine.Step();
            perStep = round.Elapsed.TotalSeconds / Math.Max(1, done - before);
            rounds++;
        }
        while ((done < steps || !(Math.Abs(perStep / previous - 1) < 0.05)) && rounds < 20);
        if (engine.UsesKernels && engine.KernelWeightBytes == 0) throw new InvalidOperationException("the warm-up ran no step through the decode kernels: their weights are not packed");
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>A token model's row: a context of <paramref name="context"/> tokens (BOS included), then <paramref name="tokens"/> tokens (EOS ignored).</summary>
    public static TokenRow TokenRow(int context, int tokens) =>
        new(new int[Math.Max(1, context)]) { RandomContext = true, MaxTokens = tokens, Sampling = new GenerationOptions { StopAtEos = false } };

    /// <summary>A sentence-level model's row: a context of <paramref name="context"/> tokens in pieces of <paramref name="tokensPerPiece"/>, then <paramref name="tokens"/> tokens in such pieces (EOS and the stop head ignored).</summary>
    public static PieceRow PieceRow(int context, int tokens, int tokensPerPiece) =>
        new(Enumerable.Range(0, Pieces(context, tokensPerPiece)).Select(_ => new int[tokensPerPiece]).ToList())
        {
            RandomContext = true, MaxTokens = tokens, IgnoreStop = true, Sampling = new GenerationOptions { MaxNewTokens = tokensPerPiece, StopAtEos = false },
        };

    /// <summary>Pieces holding <paramref name="tokens"/> tokens.</summary>
    public static int Pieces(int tokens, int tokensPerPiece) => (tokens + tokensPerPiece - 1) / tokensPerPiece;

    /// <summary>Weight bytes one token step of a token model reads: the whole model (its weight matrices in <paramref name="weights"/>' size: the kernels compute every projection).</summary>
    public static long TokenStepBytes(OptForCausalLm model, WeightFormat? weights = null) => ParameterBytes(model.parameters(), weights);

    /// <summary>Weight bytes one token step of a sentence-level model reads: the Sentence Decoder (layers and vocabulary projection; the input embedding is read a row at a time).</summary>
    public static long DecoderStepBytes(SentenceLlm model, WeightFormat? weights = null) => ParameterBytes(model.Svae.Decoder.named_parameters()
        .Where(p => !(p.name == "embed_token.weight" && !model.Config.Svae.TieWordEmbeddings)).Select(p => p.parameter), weights);

    /// <summary>Weight bytes read once per piece: the Sentence Encoder (but its embedding; it encodes whole pieces, on libtorch) and the backbone (its matrices in <paramref name="weights"/>' size).</summary>
    public static long PieceStepBytes(SentenceLlm model, WeightFormat? weights = null) =>
        ParameterBytes(model.Svae.Encoder.named_parameters().Where(p => p.name != "embed_token.weight").Select(p => p.parameter))
        + ParameterBytes(model.parameters(), weights) - ParameterBytes(model.Svae.parameters(), weights);

    /// <summary>KV-cache bytes per context token: per position for a token model, per piece ÷ its tokens for a sentence-level model.</summary>
    public static double KvBytesPerToken(OptConfig config) => 2.0 * config.NumHiddenLayers * config.HiddenSize * sizeof(float);

    /// <inheritdoc cref="KvBytesPerToken(OptConfig)"/>
    public static double KvBytesPerToken(SentenceLlmConfig config, double tokensPerPiece) => KvBytesPerToken(config.Backbone) / tokensPerPiece;

    /// <summary>Bytes of a module's parameters, each storage once; with bf16 weights, matrices (two or more dimensions) at 2 bytes an element.</summary>
    public static long ParameterBytes(IEnumerable<Tensor> parameters, WeightFormat? weights = null) =>
        parameters.DistinctBy(Checkpoints.StateDicts.StorageKey).Sum(p => p.numel() * (weights == WeightFormat.BFloat16 && p.dim() >= 2 ? 2 : p.ElementSize));
}

/// <summary>One measured pair of the paper-size benchmark.</summary>
public sealed record PaperBenchRow
{
    /// <summary>"125m", "350m" or "1.3b".</summary>
    [JsonPropertyName("size")] public required string Size { get; init; }
    /// <summary>Sentence Encoder and Decoder layers.</summary>
    [JsonPropertyName("h")] public int H { get; init; }
    /// <summary>Rows generated together.</summary>
    [JsonPropertyName("batch")] public int Batch { get; init; }
    /// <summary>Context before the timed output, in tokens (capped by the positions).</summary>
    [JsonPropertyName("prompt_tokens")] public int PromptTokens { get; init; }
    /// <summary>The Sentence Decoder's vocabulary.</summary>
    [JsonPropertyName("decoder_vocab")] public int DecoderVocab { get; init; }
    /// <summary>Output tokens per second of the token model (all rows).</summary>
    [JsonPropertyName("baseline_tokens_per_s")] public double BaselineTokensPerS { get; init; }
    /// <summary>Output tokens per second of the sentence-level model (all rows).</summary>
    [JsonPropertyName("sllm_tokens_per_s")] public double SllmTokensPerS { get; init; }
    /// <summary>Median of per-repetition ratios SLLM / baseline.</summary>
    [JsonPropertyName("speed_ratio")] public double SpeedRatio { get; init; }
    /// <summary>The token model's step (ms).</summary>
    [JsonPropertyName("baseline_step_ms")] public double BaselineStepMs { get; init; }
    /// <summary>Its weight-streaming bound: weight bytes ÷ the plain read's bandwidth (ms, at the median bandwidth).</summary>
    [JsonPropertyName("baseline_bound_ms")] public double BaselineBoundMs { get; init; }
    /// <summary>The step ÷ its bound, median of per-run ratios (each run against the read timed beside it).</summary>
    [JsonPropertyName("baseline_step_vs_bound")] public double BaselineVsBound { get; init; }
    /// <summary>Each step (baseline, sllm_token, sllm_piece) ÷ the bound of its weights in fp32 — for half-size weights, how far below any fp32 engine's bound.</summary>
    [JsonPropertyName("step_vs_fp32_bound")] public Dictionary<string, double> VsFp32Bound { get; init; } = new();
    /// <summary>Bandwidth of a plain read of memory, median over the runs (GB/s).</summary>
    [JsonPropertyName("read_gb_per_s")] public double ReadGBPerS { get; init; }
    /// <summary>The Sentence Decoder's per-token step (ms).</summary>
    [JsonPropertyName("sllm_token_step_ms")] public double SllmTokenStepMs { get; init; }
    /// <summary>Its weight-streaming bound (ms).</summary>
    [JsonPropertyName("sllm_token_bound_ms")] public double SllmTokenBoundMs { get; init; }
    /// <summary>The decoder step ÷ its bound (median of per-run ratios).</summary>
    [JsonPropertyName("sllm_token_step_vs_bound")] public double SllmTokenVsBound { get; init; }
    /// <summary>The per-piece part (stop head, encoder, backbone) per piece (ms).</summary>
    [JsonPropertyName("sllm_piece_step_ms")] public double SllmPieceStepMs { get; init; }
    /// <summary>Its weight-streaming bound: encoder + backbone bytes ÷ bandwidth (ms).</summary>
    [JsonPropertyName("sllm_piece_bound_ms")] public double SllmPieceBoundMs { get; init; }
    /// <summary>The piece step ÷ its bound (median of per-run ratios).</summary>
    [JsonPropertyName("sllm_piece_step_vs_bound")] public double SllmPieceVsBound { get; init; }
    /// <summary>KV bytes per context token, SLLM ÷ baseline.</summary>
    [JsonPropertyName("kv_ratio")] public double KvRatio { get; init; }
    /// <summary>Parameters of the token model.</summary>
    [JsonPropertyName("baseline_params")] public long BaselineParams { get; init; }
    /// <summary>Parameters of the sentence-level model.</summary>
    [JsonPropertyName("sllm_params")] public long SllmParams { get; init; }
    /// <summary>Where an SLLM piece's time goes (ms per piece, batch as given): stop, decoder, encoder, backbone.</summary>
    [JsonPropertyName("sllm_profile_ms")] public Dictionary<string, double> SllmProfileMs { get; init; } = new();
    /// <summary>Process working set after the measurement (bytes).</summary>
    [JsonPropertyName("process_bytes")] public long ProcessBytes { get; init; }
    /// <summary>How the vocabulary projections are computed: "libtorch", or the decode kernel with "fp32" / "bf16" weights.</summary>
    [JsonPropertyName("weights")] public string Weights { get; init; } = "libtorch";
}

/// <summary>Settings of <see cref="PaperBench"/>.</summary>
public sealed record PaperBenchOptions
{
    /// <summary>Sizes: "125m", "350m", "1.3b".</summary>
    public string[] Sizes { get; init; } = ["125m", "350m", "1.3b"];
    /// <summary>Sentence Encoder/Decoder layers.</summary>
    public int[] H { get; init; } = [1, 2, 4];
    /// <summary>Rows per batch.</summary>
    public int[] Batches { get; init; } = [1, 8];
    /// <summary>Contexts before the timed output (tokens).</summary>
    public int[] Prompts { get; init; } = [256, 1024, 2048];
    /// <summary>Sentence Decoder vocabularies: OPT's 50,272 over the whole matrix; the compact 8,192 at <see cref="CompactPrompt"/> only.</summary>
    public int[] DecoderVocabs { get; init; } = [50272, 8192];
    /// <summary>The decode kernel's weight format for the vocabulary projections (null: libtorch, as before).</summary>
    public WeightFormat? Weights { get; init; }
    /// <summary>The prompt at which the compact-vocabulary variants are measured.</summary>
    public int CompactPrompt { get; init; } = 1024;
    /// <summary>Tokens per generated piece (the mean of a real text, measured by the caller).</summary>
    public required int TokensPerPiece { get; init; }
    /// <summary>Pieces written per timed run (output tokens = pieces × tokens per piece, for both models).</summary>
    public int PiecesPerRun { get; init; } = 1;
    /// <summary>Timed runs per pair (after one warm-up run).</summary>
    public int Runs { get; init; } = 2;
    /// <summary>A pair whose weights, heads and token-model cache would need more is left out (default: 60 % of the machine's memory).</summary>
    public long MemoryBudgetBytes { get; init; } = (long)(0.6 * GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
}

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
        EngineTiming.WarmUp(tokens, () => Enumerable.Range(0, batch).Select(_ => (DecodeRow)EngineTiming.TokenRow(prompt, output)).ToList());
        EngineTiming.WarmUp(pieces, () => Enumerable.Range(0, batch).Select(_ => (DecodeRow)EngineTiming.PieceRow(prompt, output + 1, tokensPerPiece)).ToList());
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
            Weights = weights switch { WeightFormat.Float32 => "fp32", WeightFormat.BFloat16 => "bf16", _ => "libtorch" },
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

/// <summary>
/// What reading weights once from memory costs on this host, measured beside the timings it bounds: a plain
/// vectorised read of a buffer far larger than any cache (512 MiB, in huge pages where the kernel grants
/// them), on one thread and on two (the faster counts — the best a weight-streaming kernel could do). Timed
/// between a benchmark's runs, not once before them: on a shared host the bandwidth moved by 1.5× within
/// minutes (a 2-thread read of 501 MB took 7.2–14.0 ms across runs on one day), so a bound measured
/// apart from its step is not comparable with it.
/// </summary>
public sealed unsafe class WeightRead : IDisposable
{
    private readonly float* buffer;
    private readonly long floats;

    /// <summary>A buffer of <paramref name="bytes"/>, written once (so its pages exist before any timing).</summary>
    public WeightRead(long bytes = 512L << 20)
    {
        floats = bytes / sizeof(float) / 16 * 16;
        const int hugePage = 2 << 20;
        buffer = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), hugePage);
        if (OperatingSystem.IsLinux())
        {
            try { _ = Madvise((nint)buffer, (nuint)(floats * sizeof(float)), 14); }   // MADV_HUGEPAGE; a refusal only costs speed
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        }
        for (long i = 0; i < floats; i++) buffer[i] = i % 7;
        Read(1);
        Read(2);
    }

    /// <summary>Bytes per second of the faster of a one- and a two-thread read, now.</summary>
    public double BytesPerSecond() => floats * sizeof(float) / Math.Min(Read(1), Read(2));

    /// <summary>Seconds to read the buffer once on <paramref name="threads"/> threads.</summary>
    public double Read(int threads)
    {
        long block = (floats / threads + 15) / 16 * 16;
        var sums = new float[threads];
        var clock = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var a = System.Runtime.Intrinsics.Vector256<float>.Zero;
            var b = a;
            long end = Math.Min(floats, (t + 1) * block);
            for (long i = t * block; i < end; i += 16)
            {
                a += System.Runtime.Intrinsics.Vector256.Load(buffer + i);
                b += System.Runtime.Intrinsics.Vector256.Load(buffer + i + 8);
            }
            sums[t] = System.Runtime.Intrinsics.Vector256.Sum(a + b);
        });
        double seconds = clock.Elapsed.TotalSeconds;
        GC.KeepAlive(sums);
        return seconds;
    }

    /// <summary>Frees the buffer.</summary>
    public void Dispose() => System.Runtime.InteropServices.NativeMemory.AlignedFree(buffer);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);
}
