using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using SentenceVae.Inference;
using SentenceVae.Modules;
using static TorchSharp.torch;

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
        var clock = Stopwatch.StartNew();
        while (engine.Count > 0) engine.Step();
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

/// <summary>One measured pair of the paper-size benchmark (JSON keys as issue #12 lists them).</summary>
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
    /// <summary>Its weight-streaming bound: weight bytes ÷ measured bandwidth (ms).</summary>
    [JsonPropertyName("baseline_bound_ms")] public double BaselineBoundMs { get; init; }
    /// <summary>The Sentence Decoder's per-token step (ms).</summary>
    [JsonPropertyName("sllm_token_step_ms")] public double SllmTokenStepMs { get; init; }
    /// <summary>Its weight-streaming bound (ms).</summary>
    [JsonPropertyName("sllm_token_bound_ms")] public double SllmTokenBoundMs { get; init; }
    /// <summary>The per-piece part (stop head, encoder, backbone) per piece (ms).</summary>
    [JsonPropertyName("sllm_piece_step_ms")] public double SllmPieceStepMs { get; init; }
    /// <summary>Its weight-streaming bound: encoder + backbone bytes ÷ bandwidth (ms).</summary>
    [JsonPropertyName("sllm_piece_bound_ms")] public double SllmPieceBoundMs { get; init; }
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

    /// <summary>Runs the whole matrix; <paramref name="bandwidth"/> in bytes/s turns weight bytes into bounds.</summary>
    public static List<PaperBenchRow> Run(PaperBenchOptions options, double bandwidth, Action<string>? log = null) => Run(options, bandwidth, log, []);

    /// <summary>As <see cref="Run(PaperBenchOptions, double, Action{string}?)"/>, listing the pairs left out for memory in <paramref name="skipped"/>.</summary>
    public static List<PaperBenchRow> Run(PaperBenchOptions options, double bandwidth, Action<string>? log, List<string> skipped)
    {
        log ??= _ => { };
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
                            var row = Pair(baseline, sllm, options.TokensPerPiece, batch, prompt, room, output, options.Runs, bandwidth, options.Weights) with { Size = size, H = h, DecoderVocab = vocab };
                            rows.Add(row);
                            log($"{size} H{h} V{vocab} batch {batch} prompt {prompt}: {row.BaselineTokensPerS:0.0} vs {row.SllmTokensPerS:0.0} tok/s = {row.SpeedRatio:0.00}x; " +
                                $"token step {row.BaselineStepMs:0.0} ms (bound {row.BaselineBoundMs:0.0}), decoder step {row.SllmTokenStepMs:0.00} ms (bound {row.SllmTokenBoundMs:0.00})");
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
    // random context not timed) and written to their end; runs interleaved; the first run of each is a warm-up.
    private static PaperBenchRow Pair(OptForCausalLm baseline, SentenceLlm sllm, int tokensPerPiece, int batch, int prompt, int room, int output, int runs, double bandwidth,
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
        for (int r = 0; r <= runs; r++)
        {
            double b = EngineTiming.Write(tokens, Enumerable.Range(0, batch).Select(_ => EngineTiming.TokenRow(prompt, output)).ToList());
            foreach (var key in pieces.Profile.Keys.ToList()) pieces.Profile[key] = 0;
            int decoderCalls = pieces.DecoderCalls, pieceCalls = pieces.PieceCalls;
            // One token past the output's last piece, so every piece written is followed by its per-piece work
            // (as in the steady state); seconds per token count that token too.
            double s = EngineTiming.Write(pieces, Enumerable.Range(0, batch).Select(_ => EngineTiming.PieceRow(prompt, output + 1, tokensPerPiece)).ToList())
                * output / (output + 1);
            if (r == 0) continue;
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
        return new PaperBenchRow
        {
            Size = "", Batch = batch, PromptTokens = prompt,
            BaselineTokensPerS = batch * output / Statistics.Median(tb), SllmTokensPerS = batch * output / Statistics.Median(ts),
            SpeedRatio = Statistics.Median(tb.Zip(ts, (b, s) => b / s)),
            BaselineStepMs = Statistics.Median(stepMs), BaselineBoundMs = EngineTiming.TokenStepBytes(baseline, weights) / bandwidth * 1e3,
            SllmTokenStepMs = Statistics.Median(decoderMs), SllmTokenBoundMs = EngineTiming.DecoderStepBytes(sllm, weights) / bandwidth * 1e3,
            Weights = weights switch { WeightFormat.Float32 => "fp32", WeightFormat.BFloat16 => "bf16", _ => "libtorch" },
            SllmPieceStepMs = profile["encoder"] + profile["backbone"] + profile["stop_and_memory"], SllmPieceBoundMs = EngineTiming.PieceStepBytes(sllm, weights) / bandwidth * 1e3,
            KvRatio = EngineTiming.KvBytesPerToken(sllm.Config, tokensPerPiece) / EngineTiming.KvBytesPerToken(baseline.Config),
            BaselineParams = baseline.ParameterCount(), SllmParams = EngineTiming.ParameterBytes(sllm.parameters()) / sizeof(float), SllmProfileMs = profile, ProcessBytes = Environment.WorkingSet,
        };
    }

    /// <summary>The rows as a markdown table, with the tokens per piece and the bandwidth they were measured at.</summary>
    public static string Markdown(IReadOnlyList<PaperBenchRow> rows, int tokensPerPiece, double bandwidth, string date)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Paper sizes, random weights, fp32, {date}; pieces of {tokensPerPiece} tokens; memory bandwidth {bandwidth / 1e9:0.0} GB/s (copy). " +
                      "Speed ratio = median of per-run ratios; steps in ms with their weight-streaming bound in brackets.");
        sb.AppendLine();
        sb.AppendLine("| size | H | decoder vocab | batch | prompt | OPT tok/s | SLLM tok/s | speed ratio | OPT step (bound) | decoder step (bound) | piece step (bound) | KV ratio |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            sb.AppendLine($"| {r.Size} | {r.H} | {r.DecoderVocab} | {r.Batch} | {r.PromptTokens} | {r.BaselineTokensPerS:0.0} | {r.SllmTokensPerS:0.0} | {r.SpeedRatio:0.00}x | " +
                          $"{r.BaselineStepMs:0.0} ({r.BaselineBoundMs:0.0}) | {r.SllmTokenStepMs:0.00} ({r.SllmTokenBoundMs:0.00}) | {r.SllmPieceStepMs:0.0} ({r.SllmPieceBoundMs:0.0}) | {r.KvRatio:0.000} |");
        return sb.ToString();
    }
}

/// <summary>Memory bandwidth as a large tensor copy measures it (read + write bytes per second, median of runs).</summary>
public static class MemoryBandwidth
{
    /// <summary>Copies a 256 MiB tensor <paramref name="runs"/> times after a warm-up; returns bytes/s.</summary>
    public static double Measure(int runs = 5)
    {
        using var scope = NewDisposeScope();
        var src = rand(64L << 20);
        var dst = empty_like(src);
        dst.copy_(src);
        return Statistics.Median(Enumerable.Range(0, runs).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            dst.copy_(src);
            return 2.0 * src.NumberOfElements * sizeof(float) / clock.Elapsed.TotalSeconds;
        }));
    }
}
