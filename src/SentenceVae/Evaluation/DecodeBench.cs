using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using SentenceVae.Inference;
using SentenceVae.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Evaluation;

/// <summary>
/// One model's decode path as a speed benchmark measures it: caches filled as after a prompt (outside
/// any timing), then a timed run that writes a number of output tokens per row. The token model and
/// the sentence-level model implement it; figures other than time (KV bytes, weights read per step)
/// are read from the subject outside the timed code.
/// </summary>
public abstract class DecodeSubject : IDisposable
{
    /// <summary>A label for tables.</summary>
    public abstract string Name { get; }
    /// <summary>Parameters (tied weights once).</summary>
    public abstract long Parameters { get; }
    /// <summary>Weight bytes one output-token step reads: the whole token model; the Sentence Decoder (layers + vocabulary projection) for a sentence-level model.</summary>
    public abstract long TokenStepWeightBytes { get; }
    /// <summary>KV-cache bytes per context token per row, from the caches <see cref="Prepare"/> made.</summary>
    public abstract double KvBytesPerContextToken { get; }
    /// <summary>Positions its cache holds now: tokens for a token model, [start vector +] pieces for a sentence-level model.</summary>
    public abstract int Context { get; }
    /// <summary>Bytes the subject holds besides its caches: weights and its decoding head's copy.</summary>
    public abstract long Bytes { get; }
    /// <summary>Milliseconds of the last <see cref="Write"/> by part (e.g. decoder, encoder, backbone).</summary>
    public Dictionary<string, double> Profile { get; } = new();

    /// <summary>Caches as after a prompt of <paramref name="promptTokens"/> tokens in <paramref name="batch"/> rows, with room for <paramref name="roomTokens"/> more (not timed).</summary>
    public abstract void Prepare(int batch, int promptTokens, int roomTokens);

    /// <summary>Writes <paramref name="tokens"/> output tokens per row (stop decisions and EOS ignored); returns the seconds it took.</summary>
    public abstract double Write(int tokens);

    /// <summary>Frees the model and caches.</summary>
    public abstract void Dispose();

    /// <summary>Bytes of a module's parameters, each storage once.</summary>
    protected static long ParameterBytes(IEnumerable<Tensor> parameters) =>
        parameters.DistinctBy(Checkpoints.StateDicts.StorageKey).Sum(p => p.numel() * p.ElementSize);
}

/// <summary>The token model's step: one forward of one token per row against its KV cache, the argmax read on the host (as generation does to check EOS).</summary>
public sealed class TokenModelSubject(string name, OptForCausalLm model) : DecodeSubject
{
    private readonly DecodingHead head = model.NewDecodingHead();
    private KvCache? cache;
    private Tensor? next;
    private int batch, length;

    /// <inheritdoc/>
    public override string Name => name;
    /// <inheritdoc/>
    public override long Parameters => model.ParameterCount();
    /// <inheritdoc/>
    public override int Context => length;
    /// <inheritdoc/>
    public override long TokenStepWeightBytes => ParameterBytes(model.parameters());
    /// <inheritdoc/>
    public override double KvBytesPerContextToken => 2.0 * model.Config.NumHiddenLayers * model.Config.HiddenSize * sizeof(float);
    /// <inheritdoc/>
    public override long Bytes => ParameterBytes(model.parameters()) + (long)model.Config.VocabSize * model.Config.EmbedDim * sizeof(float);

    /// <inheritdoc/>
    public override void Prepare(int batch, int promptTokens, int roomTokens)
    {
        cache?.Dispose();
        next?.Dispose();
        var device = Devices.DeviceOf(model);
        cache = model.NewCache();
        cache.FillRandom(batch, model.Config.NumAttentionHeads, promptTokens, model.Config.HeadDim, promptTokens + roomTokens, device);
        next = zeros(batch, 1, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();
        (this.batch, length) = (batch, promptTokens);
    }

    /// <inheritdoc/>
    public override double Write(int tokens)
    {
        using var evaluation = new EvaluationMode(model);
        var device = Devices.DeviceOf(model);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < tokens; i++)
        {
            using var scope = NewDisposeScope();
            var logits = model.forward(next!, ones(batch, length + 1, dtype: ScalarType.Int64, device: device), cache, head);   // (B, 1, V)
            var chosen = logits.select(1, -1).argmax(-1);                                                                  // (B)
            chosen.cpu().data<long>().ToArray();
            next!.Dispose();
            next = chosen.unsqueeze(1).DetachFromDisposeScope();
            length++;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        Profile["step"] = seconds * 1e3 / tokens;
        return seconds;
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        cache?.Dispose();
        next?.Dispose();
        head.Dispose();
        model.Dispose();
    }
}

/// <summary>
/// The sentence-level model's step, once per piece: the stop head (read on the host), the Sentence
/// Decoder writing the piece token by token (KV-cached), the Sentence Encoder folding it into a vector,
/// one backbone step. Pieces hold a fixed number of tokens (EOS ignored), so speed does not depend on
/// trained weights.
/// </summary>
public sealed class SentenceLlmSubject(string name, SentenceLlm model, int tokensPerPiece) : DecodeSubject
{
    private readonly SentenceCodec codec = new(model.Svae);
    private readonly DecodingHead head = model.Svae.Decoder.NewDecodingHead();
    private KvCache? cache;
    private Tensor? hidden;
    private int batch, positions;

    /// <summary>Tokens every generated piece holds.</summary>
    public int TokensPerPiece => tokensPerPiece;
    /// <inheritdoc/>
    public override int Context => positions;
    /// <inheritdoc/>
    public override string Name => name;
    /// <inheritdoc/>
    public override long Parameters => model.parameters().DistinctBy(Checkpoints.StateDicts.StorageKey).Sum(p => p.numel());
    /// <inheritdoc/>
    public override long TokenStepWeightBytes => ParameterBytes(model.Svae.Decoder.named_parameters()
        .Where(p => !(p.name == "embed_token.weight" && !model.Config.Svae.TieWordEmbeddings)).Select(p => p.parameter));   // the input embedding: one row per step
    /// <summary>Weight bytes read once per piece: the Sentence Encoder and the backbone.</summary>
    public long PieceStepWeightBytes => ParameterBytes(model.Svae.Encoder.named_parameters().Where(p => p.name != "embed_token.weight").Select(p => p.parameter))
        + ParameterBytes(model.parameters()) - ParameterBytes(model.Svae.parameters());
    /// <inheritdoc/>
    public override double KvBytesPerContextToken => 2.0 * model.NumLayers * model.Config.Backbone.HiddenSize * sizeof(float) / tokensPerPiece;
    /// <inheritdoc/>
    public override long Bytes => ParameterBytes(model.parameters()) + (long)model.Config.Svae.VocabSize * model.Config.Svae.HiddenSize * sizeof(float);

    private int Pieces(int tokens) => (tokens + tokensPerPiece - 1) / tokensPerPiece;

    /// <inheritdoc/>
    public override void Prepare(int batch, int promptTokens, int roomTokens)
    {
        cache?.Dispose();
        hidden?.Dispose();
        var device = Devices.DeviceOf(model);
        var backbone = model.Config.Backbone;
        positions = NextPiecePlan.Position(Pieces(promptTokens), model.Config.UseStartVector) + 1;
        cache = model.NewCache();
        cache.FillRandom(batch, backbone.NumAttentionHeads, positions, backbone.HeadDim, positions + Pieces(roomTokens) + 1, device);
        hidden = randn(batch, backbone.HiddenSize, device: device).DetachFromDisposeScope();
        this.batch = batch;
    }

    /// <inheritdoc/>
    public override double Write(int tokens)
    {
        using var evaluation = new EvaluationMode(model);
        var device = Devices.DeviceOf(model);
        var options = new GenerationOptions { MaxNewTokens = tokensPerPiece, StopAtEos = false };
        using var sampler = new TokenSampler(options, device);
        double stop = 0, decoder = 0, encoder = 0, backboneMs = 0;
        var part = new Stopwatch();
        var clock = Stopwatch.StartNew();
        for (int piece = 0; piece < Pieces(tokens); piece++)
        {
            using var scope = NewDisposeScope();
            part.Restart();
            model.StopLogits(hidden!).argmax(-1).cpu().data<long>().ToArray();                        // generation reads the stop decision
            stop += part.Elapsed.TotalMilliseconds;
            part.Restart();
            var (memory, mask) = model.DecoderMemory(hidden!, null, null);                               // (B, k, C)
            var ids = codec.Decode(memory, options, sampler, mask, head: head);                         // B pieces of tokensPerPiece tokens
            decoder += part.Elapsed.TotalMilliseconds;
            part.Restart();
            var (vectors, _, _) = codec.EncodeWithStates(ids);                                           // (B, 1, C)
            encoder += part.Elapsed.TotalMilliseconds;
            part.Restart();
            var h = model.Backbone(vectors, ones(batch, positions + 1, dtype: ScalarType.Int64, device: device), cache);   // (B, 1, C)
            hidden!.Dispose();
            hidden = h.select(1, -1).DetachFromDisposeScope();
            positions++;
            backboneMs += part.Elapsed.TotalMilliseconds;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        int written = Pieces(tokens) * tokensPerPiece;
        Profile["stop"] = stop;
        Profile["decoder"] = decoder;
        Profile["encoder"] = encoder;
        Profile["backbone"] = backboneMs;
        Profile["decoder_token_step"] = decoder / written;
        return seconds * tokens / written;                                                                // seconds for `tokens` tokens
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        cache?.Dispose();
        hidden?.Dispose();
        head.Dispose();
        model.Dispose();
    }
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
            using var baseline = new TokenModelSubject($"OPT-{size}", new OptForCausalLm(Backbone(size)));
            foreach (int vocab in options.DecoderVocabs)
                foreach (int h in options.H)
                {
                    log($"{size}: building SLLM-{size}-H{h} (decoder vocabulary {vocab})");
                    FreeReleasedTensors();
                    using var sllm = new SentenceLlmSubject($"SLLM-{size}-H{h}", new SentenceLlm(Sllm(size, h, vocab)), options.TokensPerPiece);
                    var prompts = vocab == options.DecoderVocabs[0] ? options.Prompts : [options.CompactPrompt];
                    foreach (int batch in options.Batches)
                        foreach (int wanted in prompts)
                        {
                            int room = (options.Runs + 1) * output;
                            int prompt = Math.Min(wanted, Backbone(size).MaxPositionEmbeddings - room - 1);
                            // Both models, their decoding heads and the token model's cache must fit in memory.
                            long need = baseline.Bytes + sllm.Bytes + (long)(baseline.KvBytesPerContextToken * batch * (prompt + room));
                            if (need > options.MemoryBudgetBytes)
                            {
                                log($"{size} H{h} V{vocab} batch {batch} prompt {prompt}: skipped, needs ~{need / 1e9:0.0} GB (budget {options.MemoryBudgetBytes / 1e9:0.0} GB)");
                                skipped.Add($"{size} H{h} decoder vocab {vocab} batch {batch} prompt {prompt} (~{need / 1e9:0.0} GB)");
                                continue;
                            }
                            var row = Pair(baseline, sllm, batch, prompt, room, output, options.Runs, bandwidth) with { Size = size, H = h, DecoderVocab = vocab };
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

    // Caches prepared outside the timing; runs interleaved; the first run of each is a warm-up.
    private static PaperBenchRow Pair(TokenModelSubject baseline, SentenceLlmSubject sllm, int batch, int prompt, int room, int output, int runs, double bandwidth)
    {
        FreeReleasedTensors();
        baseline.Prepare(batch, prompt, room);
        sllm.Prepare(batch, prompt, room);
        var tb = new List<double>();
        var ts = new List<double>();
        var stepMs = new List<double>();
        var decoderMs = new List<double>();
        var profiles = new List<Dictionary<string, double>>();
        for (int r = 0; r <= runs; r++)
        {
            double b = baseline.Write(output), s = sllm.Write(output);
            if (r == 0) continue;
            tb.Add(b);
            ts.Add(s);
            stepMs.Add(baseline.Profile["step"]);
            decoderMs.Add(sllm.Profile["decoder_token_step"]);
            profiles.Add(new Dictionary<string, double>(sllm.Profile));
        }
        int pieces = output / sllm.TokensPerPiece;
        var profile = profiles[0].Keys.Where(k => k != "decoder_token_step").ToDictionary(k => k, k => Statistics.Median(profiles.Select(p => p[k] / pieces)));
        return new PaperBenchRow
        {
            Size = "", Batch = batch, PromptTokens = prompt,
            BaselineTokensPerS = batch * output / Statistics.Median(tb), SllmTokensPerS = batch * output / Statistics.Median(ts),
            SpeedRatio = Statistics.Median(tb.Zip(ts, (b, s) => b / s)),
            BaselineStepMs = Statistics.Median(stepMs), BaselineBoundMs = baseline.TokenStepWeightBytes / bandwidth * 1e3,
            SllmTokenStepMs = Statistics.Median(decoderMs), SllmTokenBoundMs = sllm.TokenStepWeightBytes / bandwidth * 1e3,
            SllmPieceStepMs = profile["stop"] + profile["encoder"] + profile["backbone"], SllmPieceBoundMs = sllm.PieceStepWeightBytes / bandwidth * 1e3,
            KvRatio = sllm.KvBytesPerContextToken / baseline.KvBytesPerContextToken,
            BaselineParams = baseline.Parameters, SllmParams = sllm.Parameters, SllmProfileMs = profile, ProcessBytes = Environment.WorkingSet,
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
