using System.Diagnostics;
using System.Text.Json.Serialization;
using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Evaluation;

/// <summary>
/// The paper's comparison measured side by side in one process on the same text: likelihood (ppl and,
/// honestly, bits per byte, each model with windows of the context it was trained on), SentenceVAE
/// reconstruction, output speed after real prompts of several lengths and at several batch sizes (greedy,
/// median of interleaved runs after a warm-up), prefill speed, KV-cache bytes per context token
/// (allocated and analytic), and every model's ratios to the token-level baseline. Models of both kinds
/// may be compared (the baseline is the first).
/// </summary>
public static class Benchmark
{
    /// <summary>Loads the baseline token model and each further model (token-level or sentence-level), scores them on <paramref name="documents"/> and times them interleaved.</summary>
    public static BenchmarkReport Run(string baselineDir, IReadOnlyList<string> modelDirs, IReadOnlyList<string> documents, BenchmarkOptions options, Action<string>? log = null)
    {
        log ??= _ => { };
        set_num_threads(options.Threads);
        string text = string.Join("\n", documents);
        var loaded = new List<IDisposable>();
        var engines = new List<IDisposable>();                 // one per model and case, reused by every timed run (freed before the models)
        var measured = new List<Measured>();
        try
        {
            // Prompts are cut from the text: it must hold the longest one (and an output after it).
            if (options.Batches.Length == 0 || options.Batches.Any(b => b < 1)) throw new ArgumentException($"batch sizes must be at least 1 (are {string.Join(", ", options.Batches)})");
            int available = TextTokenizers.Load(baselineDir).Encode(text).Count, longest = options.PromptTokens.Max();
            if (available < longest + options.OutputTokens)
                throw new InvalidDataException($"the benchmark text holds {available} tokens, fewer than the longest prompt ({longest}) + the output ({options.OutputTokens}); give more text or smaller --prompt-tokens");
            var kinds = modelDirs.Select(dir => ModelDirectory.Kind(dir, "benchmarked", ModelKind.TokenModel, ModelKind.SentenceLlm))
                .Prepend(ModelDirectory.Kind(baselineDir, "the baseline", ModelKind.TokenModel)).ToList();
            foreach (var (dir, kind) in modelDirs.Prepend(baselineDir).Zip(kinds))
            {
                log($"model {dir}");
                string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
                if (kind == ModelKind.TokenModel)
                {
                    var lm = HuggingFaceCheckpoint.LoadOpt(dir);
                    loaded.Add(lm);
                    measured.Add(MeasureLm(name, lm, TextTokenizers.Load(dir), documents, text, options, engines));
                }
                else
                {
                    var sllm = SentenceLlmCheckpoint.Load(dir);
                    loaded.Add(sllm);
                    measured.Add(MeasureSllm(name, sllm, TextTokenizers.Load(dir), documents, text, options, engines));
                }
            }

            // Timing, interleaved: each repetition times every model once, so drift on a shared machine
            // hits both sides of every ratio alike. Ratios are medians of per-repetition ratios.
            log("timing (interleaved)");
            var baseline = measured[0];
            var throughputRatios = measured.Select(_ => new Dictionary<string, double>()).ToList();
            foreach (var key in baseline.Output.Keys)
            {
                foreach (var m in measured) m.Output[key]();                                    // after each engine's own warm-up, one run each
                var seconds = measured.Select(_ => new List<double>()).ToList();               // per output token
                for (int r = 0; r < options.Runs; r++)
                    for (int i = 0; i < measured.Count; i++) seconds[i].Add(measured[i].Output[key]());
                for (int i = 0; i < measured.Count; i++)
                {
                    measured[i].Model.OutputTokensPerS[key] = 1 / Statistics.Median(seconds[i]);
                    throughputRatios[i][key] = Statistics.Median(seconds[0].Zip(seconds[i], (b, m) => b / m));
                }
            }
            foreach (var m in measured)
            {
                m.Prefill();
                m.Model.PrefillTokensPerS = Statistics.Median(Enumerable.Range(0, options.Runs).Select(_ => m.Prefill()));
            }
            var models = measured.Select(m => m.Model).ToList();
            for (int i = 0; i < models.Count; i++)
                models[i].Ratios = new BenchmarkRatios(
                    throughputRatios[i],
                    models[i].KvBytesPerToken.ToDictionary(kv => kv.Key, kv => kv.Value / models[0].KvBytesPerToken[kv.Key]),
                    models[i].BitsPerByte / models[0].BitsPerByte);
            return new BenchmarkReport(Machine(options), new Dictionary<string, object>
            {
                ["prompt_tokens"] = options.PromptTokens, ["output_tokens"] = options.OutputTokens, ["runs"] = options.Runs, ["timing"] = "interleaved",
                ["weights"] = WeightFormats.Name(options.Weights),
                ["eval_bytes"] = documents.Sum(d => (long)System.Text.Encoding.UTF8.GetByteCount(d)), ["batches"] = options.Batches, ["decoding"] = "greedy",
                ["scored_texts"] = options.ScoredTexts.Keys.ToArray(), ["scoring"] = "windows of each model's trained context, stride half a window",
            }, models);
        }
        finally
        {
            foreach (var e in engines) e.Dispose();
            foreach (var d in loaded) d.Dispose();
        }
    }

    /// <summary>
    /// A timer for one case: its engine is made once, on the first call, and warmed up there (its one-time
    /// work recorded, never timed); each call then times <paramref name="rows"/>' rows to their end in it.
    /// </summary>
    private static Func<double> CaseTimer<TEngine>(Func<TEngine> make, Func<IReadOnlyList<DecodeRow>> rows, BenchmarkModel model, string key, List<IDisposable> engines,
        Action<TEngine, Func<double>>? time = null) where TEngine : IDecodeEngine
    {
        TEngine? engine = default;
        return () =>
        {
            if (engine is null)
            {
                engines.Add(engine = make());
                model.WarmUpSeconds[key] = EngineTiming.WarmUp(engine, rows);
            }
            var timed = rows();
            double Seconds() => EngineTiming.Write(engine, timed) / Math.Max(1, timed.Sum(r => r.Tokens));
            if (time is null) return Seconds();
            double seconds = 0;
            time(engine, () => seconds = Seconds());
            return seconds;
        };
    }

    /// <summary>A model's quality figures and its timers: seconds per output token by case (<see cref="CaseKey"/>), and a prefill rate.</summary>
    private sealed record Measured(BenchmarkModel Model, Dictionary<string, Func<double>> Output, Func<double> Prefill);

    private static Measured MeasureLm(string name, OptForCausalLm lm, ITextTokenizer tok, IReadOnlyList<string> documents, string text, BenchmarkOptions options, List<IDisposable> engines)
    {
        var quality = LmEvaluator.Evaluate(lm, tok, documents, options.EvalTokens);
        var ids = tok.Encode(text);
        var model = new BenchmarkModel
        {
            Name = name, Kind = ModelKind.TokenModel, Params = lm.ParameterCount(), Ppl = quality.Ppl, BitsPerByte = quality.BitsPerByte!.Value, Context = quality.Context!.Value,
            BitsPerByteByText = options.ScoredTexts.ToDictionary(t => t.Key, t => LmEvaluator.Evaluate(lm, tok, t.Value).BitsPerByte!.Value),
            KvBytesPerTokenAnalytic = EngineTiming.KvBytesPerToken(lm.Config),
        };
        var generator = new TokenGenerator(lm, tok) { Weights = options.Weights };
        var timers = new Dictionary<string, Func<double>>();
        foreach (int wanted in options.PromptTokens)
        {
            // The context must fit the position table with the output after it.
            int length = Math.Min(wanted, lm.Config.MaxPositionEmbeddings - options.OutputTokens);
            foreach (int batch in options.Batches)
            {
                var prompts = Enumerable.Range(0, batch).Select(row => TokenPrompt(tok, ids, length, row)).ToList();
                string key = CaseKey(wanted, batch);
                timers[key] = CaseTimer(() => generator.NewEngine(batch),
                    () => prompts.Select(p => (DecodeRow)TokenGenerator.Row(p, new GenerationOptions { MaxNewTokens = options.OutputTokens, StopAtEos = false })).ToList(), model, key, engines);
            }
            int[] prompt = TokenPrompt(tok, ids, length);
            long before = Environment.WorkingSet;
            generator.Generate([prompt], new GenerationOptions { MaxNewTokens = options.OutputTokens, StopAtEos = false });   // untimed: the memory figures
            model.PromptTokens[wanted.ToString()] = prompt.Length;
            model.KvBytesPerToken[wanted.ToString()] = (double)KvBytesAfter(lm, prompt.Length + options.OutputTokens) / (prompt.Length + options.OutputTokens);
            model.MemoryGrowthBytes[wanted.ToString()] = Environment.WorkingSet - before;
        }
        var prefillIds = TokenPrompt(tok, ids, Math.Min(options.PromptTokens.Max(), lm.Config.Context)).Select(i => (long)i).ToArray();
        int prefillLength = prefillIds.Length;
        double Prefill()
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var input = tensor(prefillIds, new long[] { 1, prefillLength }, device: Devices.DeviceOf(lm));
            var watch = Stopwatch.StartNew();
            lm.forward(input, ones_like(input)).select(1, -1).argmax(-1).item<long>();
            return prefillLength / watch.Elapsed.TotalSeconds;
        }
        return new Measured(model, timers, Prefill);
    }

    /// <summary>KV bytes the cache allocates for a context of <paramref name="context"/> tokens (prefill, then grown step by step as in generation).</summary>
    private static long KvBytesAfter(OptForCausalLm lm, int context)
    {
        using var noGrad = no_grad();
        using var cache = lm.NewCache();
        using var scope = NewDisposeScope();
        int prompt = context - 1;
        var device = Devices.DeviceOf(lm);
        lm.forward(zeros(1, prompt, dtype: ScalarType.Int64, device: device), ones(1, prompt, dtype: ScalarType.Int64, device: device), cache);
        lm.forward(zeros(1, 1, dtype: ScalarType.Int64, device: device), ones(1, context, dtype: ScalarType.Int64, device: device), cache);
        return cache.AllocatedBytes;
    }

    private static Measured MeasureSllm(string name, SentenceLlm sllm, ITextTokenizer tok, IReadOnlyList<string> documents, string text, BenchmarkOptions options, List<IDisposable> engines)
    {
        var quality = SllmEvaluator.Evaluate(sllm, tok, documents, options.EvalTokens);
        var byText = options.ScoredTexts.ToDictionary(t => t.Key, t => SllmEvaluator.Evaluate(sllm, tok, t.Value).BitsPerByte!.Value);
        var splitter = sllm.Config.Svae.Splitter(tok);
        var pieces = documents.SelectMany(splitter.Split).ToList();
        if (options.EvalTokens > 0) pieces = TakeTokens(pieces, tok, options.EvalTokens);
        // Reconstruction accuracy means something only where the decoder reads the encoder's vector as it is (the paper's layout).
        var reconstruction = sllm.Config.Projected || sllm.Config.ReadPreviousPiece ? null : VaeEvaluator.Evaluate(sllm.Svae, tok, pieces);
        var allPieces = splitter.Split(text).Select(p => tok.Encode(p).ToArray()).ToList();
        double tokensPerPiece = allPieces.Average(p => p.Length);
        var model = new BenchmarkModel
        {
            Name = name, Kind = ModelKind.SentenceLlm, Params = sllm.parameters().DistinctBy(Checkpoints.StateDicts.StorageKey).Sum(p => p.numel()), Ppl = quality.Ppl, BitsPerByte = quality.BitsPerByte!.Value,
            Context = quality.Context!.Value, BitsPerByteByText = byText, TokenAccuracy = reconstruction?.TokenAccuracy, ExactMatch = reconstruction?.ExactMatch,
            KvBytesPerTokenAnalytic = EngineTiming.KvBytesPerToken(sllm.Config, tokensPerPiece),
        };
        var generator = new SentenceLlmGenerator(sllm, tok) { Weights = options.Weights };
        var timers = new Dictionary<string, Func<double>>();
        foreach (int wanted in options.PromptTokens)
        {
            // Positions: the start vector, the prompt's pieces, then the output pieces.
            int maxPieces = sllm.Config.MaxPositions - 2 - options.OutputTokens;
            // Pieces as the model writes them (EOS ends a piece), the stop head ignored, until each row has OutputTokens text tokens.
            List<PieceRow> Rows(List<List<int[]>> prompts) => prompts.Select(p => new PieceRow(p)
            {
                IgnoreStop = true, MaxTokens = options.OutputTokens, Sampling = new GenerationOptions { MaxNewTokens = sllm.Config.Svae.MaxSeqLen },
            }).ToList();
            foreach (int batch in options.Batches)
            {
                var prompts = Enumerable.Range(0, batch).Select(row => PiecePrompt(allPieces, wanted, maxPieces, row)).ToList();
                string key = CaseKey(wanted, batch);
                timers[key] = CaseTimer(() => generator.NewEngine(batch), () => Rows(prompts), model, key, engines, (engine, time) =>
                {
                    int calls = engine.DecoderCalls, pieceCalls = engine.PieceCalls;
                    long iterations = engine.RowIterations, waiting = engine.WaitingRowIterations;
                    var profile = new Dictionary<string, double>(engine.Profile);
                    time();
                    double steps = Math.Max(1, engine.DecoderCalls - calls);
                    double Part(string part) => (engine.Profile[part] - profile[part]) / steps;
                    model.EngineProfile[key] = new Dictionary<string, double>
                    {
                        ["decoder_ms"] = Part("decoder"), ["encoder_ms"] = Part("encoder"), ["backbone_ms"] = Part("backbone"),
                        ["stop_and_memory_ms"] = Part("stop_and_memory"), ["piece_calls_per_step"] = (engine.PieceCalls - pieceCalls) / steps,
                        ["waiting_row_fraction"] = (double)(engine.WaitingRowIterations - waiting) / Math.Max(1, engine.RowIterations - iterations),
                    };
                });
            }
            var prompt = PiecePrompt(allPieces, wanted, maxPieces);
            int promptTokens = prompt.Sum(p => p.Length);
            long before = Environment.WorkingSet;
            // Memory figures come from one untimed run.
            var alone = Rows([prompt]);
            foreach (var _ in generator.Run(alone)) { }
            int piecesWritten = alone[0].Pieces, written = alone[0].Tokens;
            model.PromptTokens[wanted.ToString()] = promptTokens;
            model.KvBytesPerToken[wanted.ToString()] = (double)SllmKvBytes(sllm, prompt.Count + piecesWritten) / Math.Max(1, promptTokens + written);
            model.MemoryGrowthBytes[wanted.ToString()] = Environment.WorkingSet - before;
        }
        // Prefill: encode the prompt's pieces and run the backbone over them.
        var longest = PiecePrompt(allPieces, options.PromptTokens.Max(), sllm.Config.MaxPositions - 1);
        int count = longest.Sum(p => p.Length);
        var codec = new SentenceCodec(sllm.Svae);
        double Prefill()
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var watch = Stopwatch.StartNew();
            var vectors = cat([sllm.StartVectors(1), codec.Encode(longest).transpose(0, 1)], 1);
            sllm.StopLogits(sllm.Backbone(vectors, ones(1, vectors.shape[1], dtype: ScalarType.Int64, device: vectors.device)).select(1, -1)).argmax(-1).item<long>();
            return count / watch.Elapsed.TotalSeconds;
        }
        return new Measured(model, timers, Prefill);
    }

    /// <summary>The timing case of a prompt length and a batch size: "P" at batch 1, "PxB" otherwise.</summary>
    public static string CaseKey(int promptTokens, int batch) => batch == 1 ? $"{promptTokens}" : $"{promptTokens}x{batch}";

    /// <summary>A token model's prompt for batch row <paramref name="row"/>: BOS and <paramref name="length"/> − 1 tokens of the text, row r starting r prompts in (wrapping around).</summary>
    private static int[] TokenPrompt(ITextTokenizer tok, IReadOnlyList<int> ids, int length, int row = 0) =>
        [tok.BosId, .. ids.Skip(row * (length - 1) % Math.Max(1, ids.Count - length + 1)).Take(length - 1)];

    /// <summary>A sentence-level model's prompt for batch row <paramref name="row"/>: consecutive pieces holding about <paramref name="tokens"/> tokens (at least one piece, at most <paramref name="maxPieces"/>), row r starting about r prompts into the text (wrapping around).</summary>
    private static List<int[]> PiecePrompt(IReadOnlyList<int[]> pieces, int tokens, int maxPieces, int row = 0)
    {
        var prompt = new List<int[]>();
        int count = 0, perPrompt = Math.Max(1, tokens * pieces.Count / Math.Max(1, pieces.Sum(p => p.Length)));
        foreach (var p in pieces.Skip(row * perPrompt % Math.Max(1, pieces.Count - perPrompt)))
        {
            if ((count + p.Length > tokens || prompt.Count >= maxPieces) && prompt.Count > 0) break;
            prompt.Add(p);
            count += p.Length;
        }
        return prompt;
    }

    /// <summary>Backbone KV bytes allocated for a context of <paramref name="pieces"/> pieces (start vector included), plus one piece's decoder cache.</summary>
    private static long SllmKvBytes(SentenceLlm sllm, int pieces)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var cache = sllm.NewCache();
        int positions = pieces + 1;
        var device = Devices.DeviceOf(sllm);
        int vector = sllm.Config.Svae.HiddenSize, longest = sllm.Config.Svae.MaxSeqLen;
        sllm.Backbone(zeros(1, positions - 1, vector, device: device), ones(1, positions - 1, dtype: ScalarType.Int64, device: device), cache);
        sllm.Backbone(zeros(1, 1, vector, device: device), ones(1, positions, dtype: ScalarType.Int64, device: device), cache);
        var memory = sllm.DecoderMemory(zeros(1, sllm.Config.Backbone.HiddenSize, device: device), zeros(1, longest, vector, device: device), ones(1, longest, device: device));
        using var decoderCache = sllm.Svae.Decoder.NewCache(memory.Memory, memory.Mask);   // the largest memory: k vectors and a longest previous piece
        return cache.AllocatedBytes + decoderCache.AllocatedBytes;
    }

    private static List<string> TakeTokens(List<string> pieces, ITextTokenizer tok, long limit)
    {
        var kept = new List<string>();
        long total = 0;
        foreach (var p in pieces) { if (total >= limit) break; kept.Add(p); total += tok.CountTokens(p); }
        return kept;
    }

    /// <summary>The paper's table layout (model, params, PPL, speed, memory) with bits per byte and the ratios to the baseline.</summary>
    public static string Markdown(BenchmarkReport report)
    {
        var prompts = report.Models[0].OutputTokensPerS.Keys.ToList();
        string last = report.Models[0].KvBytesPerToken.Keys.Last();
        var texts = report.Models[0].BitsPerByteByText.Keys.ToList();
        var sb = new System.Text.StringBuilder();
        var m = report.Machine;
        sb.AppendLine($"Measured {m["date"]} on {m["cpu"]} ({m["threads"]} threads, {m["device"]}, {m["dtype"]}), greedy, median of {report.Settings["runs"]} interleaved runs; " +
                      $"{report.Settings["eval_bytes"]:N0} bytes of text evaluated, each model with windows of the context it was trained on. Speed cases: P = batch 1 after a P-token prompt, PxB = B rows.");
        sb.AppendLine();
        sb.AppendLine($"| model | params | context | PPL (token) | bits/byte | bpb ratio |{string.Concat(texts.Select(t => $" bits/byte {t} |"))} output tok/s @{string.Join(" / @", prompts)} | speed ratio @{string.Join(" / @", prompts)} | prefill tok/s | KV B/token @{last} (analytic) | KV ratio | token acc | exact match |");
        sb.AppendLine("|---|---|---|---|---|---|" + string.Concat(texts.Select(_ => "---|")) + "---|---|---|---|---|---|---|");
        foreach (var x in report.Models)
        {
            var r = x.Ratios!;
            sb.AppendLine(string.Join(" | ", (string[])
            [
                $"| {x.Name}", $"{x.Params / 1e6:0.0}M", $"{x.Context} {(x.Kind == ModelKind.TokenModel ? "tokens" : "pieces")}", $"{x.Ppl:0.00}", $"{x.BitsPerByte:0.000}", $"{r.Bpb:0.00}x",
                .. texts.Select(t => $"{x.BitsPerByteByText[t]:0.000}"),
                string.Join(" / ", prompts.Select(p => $"{x.OutputTokensPerS[p]:0}")),
                string.Join(" / ", prompts.Select(p => $"{r.Throughput[p]:0.00}x")),
                $"{x.PrefillTokensPerS:0}", $"{x.KvBytesPerToken[last]:0} ({x.KvBytesPerTokenAnalytic:0})", $"{r.Kv[last]:0.00}x",
                x.TokenAccuracy is double a ? $"{a:P1}" : "–", x.ExactMatch is double e ? $"{e:P1}" : "–",
            ]) + " |");
        }
        return sb.ToString();
    }

    private static Dictionary<string, object> Machine(BenchmarkOptions options)
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown" : "unknown";
        return new Dictionary<string, object>
        {
            ["cpu"] = cpu, ["logical_cores"] = Environment.ProcessorCount, ["threads"] = options.Threads,
            ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription, ["dotnet"] = Environment.Version.ToString(),
            ["torchsharp"] = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "?", ["device"] = "cpu", ["dtype"] = "float32",
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"),
        };
    }
}
