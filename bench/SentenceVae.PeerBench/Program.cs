using System.Globalization;
using System.Text;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Modules.Kernels;
using SentenceVae.PeerBench;
using static TorchSharp.torch;

// svae-peer-bench: our decode steps (TokenEngine: libtorch, or the decode kernels in fp32/bf16/int8) beside llama.cpp's
// (LLamaSharp's CPU backend, GGUF files of GPT-2 shapes with random weights written here), alternated in one run;
// a plain read of memory timed around every run gives each its bound (its weight bytes ÷ that read's speed).
var options = Options.Parse(args);
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
set_num_threads(options.Threads);
NativeLibraryConfig.All.WithLogCallback((level, message) => { if (level >= LLamaLogLevel.Error) Console.Error.Write(message); });
Directory.CreateDirectory(options.GgufDirectory);
var rows = new List<Row>();
using var read = new WeightRead();

foreach (string size in options.Sizes)
{
    var config = OptConfig.Presets.ByName("opt-" + size) with { Dropout = 0 };
    var shape = new GgufWriter.Shape(config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads, config.FfnDim, config.VocabSize, config.MaxPositionEmbeddings);
    manual_seed(0);
    using var lm = new OptForCausalLm(config);
    lm.eval();
    var llamaModels = new Dictionary<GgufType, (LLamaWeights Weights, ModelParams Parameters, long Bytes)>();
    try
    {
        foreach (var (_, type) in options.Pairs)
        {
            string path = Path.Combine(options.GgufDirectory, $"gpt2-{size}-{type.ToString().ToLowerInvariant()}.gguf");
            if (!File.Exists(path))
            {
                Console.Error.WriteLine($"peer-bench: writing {path}");
                GgufWriter.Write(path + ".part", shape, type);
                File.Move(path + ".part", path, overwrite: true);
            }
            var parameters = new ModelParams(path) { Threads = options.Threads, GpuLayerCount = 0 };
            llamaModels[type] = (LLamaWeights.LoadFromFile(parameters), parameters, LlamaStepBytes(shape, type));
        }
        foreach (int context in options.Contexts)
            foreach (int batch in options.Batches)
            {
                Console.Error.WriteLine($"peer-bench: {size}, context {context}, batch {batch}");
                // Every engine, warmed up (weights packed, first calls); then rounds that time each once, alternating.
                var engines = new List<(string Name, string Format, long Bytes, Func<double> Run, IDisposable Owner)>();
                foreach (var (ours, type) in options.Pairs)
                {
                    var engine = new TokenEngine(lm, config.EosTokenId, batch, context + options.Tokens + 1, ours);
                    List<DecodeRow> Rows() => Enumerable.Range(0, batch).Select(_ => (DecodeRow)EngineTiming.TokenRow(context, options.Tokens)).ToList();
                    EngineTiming.WarmUp(engine, Rows);
                    engines.Add(("svae", WeightFormats.Name(ours), EngineTiming.TokenStepBytes(lm, ours), () => EngineTiming.Write(engine, Rows()), engine));
                    var (weights, parameters, bytes) = llamaModels[type];
                    var steps = new LlamaCppSteps(weights, parameters, batch, context, options.Tokens);
                    for (int i = 0; i < 3; i++) steps.Time(options.Tokens);
                    engines.Add(("llama.cpp", type.ToString().ToLowerInvariant(), bytes, () => steps.Time(options.Tokens), steps));
                }
                var times = engines.Select(_ => new List<(double Ms, double Bound)>()).ToList();
                for (int round = 0; round < options.Runs; round++)
                    for (int e = 0; e < engines.Count; e++)
                    {
                        double before = read.BytesPerSecond();
                        double ms = engines[e].Run() * 1e3 / options.Tokens;
                        double bandwidth = (before + read.BytesPerSecond()) / 2;
                        times[e].Add((ms, engines[e].Bytes / bandwidth * 1e3));
                    }
                for (int e = 0; e < engines.Count; e++)
                {
                    double ms = Median(times[e].Select(t => t.Ms)), vsBound = Median(times[e].Select(t => t.Ms / t.Bound));
                    int peer = e % 2 == 0 ? e + 1 : e;
                    double vsLlama = Median(times[e].Zip(times[peer], (a, b) => a.Ms / b.Ms));
                    rows.Add(new Row(size, context, batch, engines[e].Name, engines[e].Format, engines[e].Bytes, ms, vsLlama, vsBound));
                    Console.Error.WriteLine($"peer-bench:   {engines[e].Name} {engines[e].Format}: {ms:0.00} ms/step, {vsLlama:0.00}x llama.cpp, {vsBound:0.00}x its bound");
                }
                foreach (var engine in engines) engine.Owner.Dispose();
            }
    }
    finally
    {
        foreach (var model in llamaModels.Values) model.Weights.Dispose();
    }
}

var markdown = new StringBuilder();
markdown.AppendLine($"Batch B: B rows, one token each per step; ms per step; × llama.cpp: the same step of its counterpart format in the same round (median over {options.Runs} rounds); × bound: the step's weight bytes ÷ a plain read timed around that run. {options.Threads} threads.");
markdown.AppendLine();
markdown.AppendLine("| size | context | batch | engine | weights | MB/step | ms/step | × llama.cpp | × bound |");
markdown.AppendLine("|---|---|---|---|---|---|---|---|---|");
foreach (var r in rows)
    markdown.AppendLine($"| {r.Size} | {r.Context} | {r.Batch} | {r.Engine} | {r.Weights} | {r.WeightBytes / 1e6:0} | {r.Ms:0.00} | {r.VsLlamaCpp:0.00}x | {r.VsBound:0.00}x |");
Console.Write(markdown);
if (options.Markdown is { } md) File.WriteAllText(md, markdown.ToString());
if (options.Json is { } json) File.WriteAllText(json, JsonSerializer.Serialize(new { options.Threads, options.Tokens, options.Runs, rows }, new JsonSerializerOptions { WriteIndented = true }) + "\n");
return 0;

// Weight bytes one llama.cpp step reads: every matrix in its type, norms and biases in F32, the tied head once, positions one row.
static long LlamaStepBytes(GgufWriter.Shape s, GgufType type)
{
    long e = s.Embedding, f = s.FeedForward;
    long matrices = GgufWriter.Bytes([e, s.Vocabulary], type)
        + s.Blocks * (GgufWriter.Bytes([e, 3 * e], type) + GgufWriter.Bytes([e, e], type) + GgufWriter.Bytes([e, f], type) + GgufWriter.Bytes([f, e], type));
    long vectors = 4 * (2 * e + s.Blocks * (4 * e + 3 * e + e + f + e));
    return matrices + vectors;
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.OrderBy(v => v).ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

/// <summary>One engine's figures at one size, context and batch.</summary>
internal sealed record Row(string Size, int Context, int Batch, string Engine, string Weights, long WeightBytes, double Ms, double VsLlamaCpp, double VsBound);

/// <summary>The command line: which sizes, contexts, batches and format pairs, how many steps and rounds.</summary>
internal sealed record Options
{
    public string[] Sizes { get; init; } = ["125m", "350m", "1.3b"];
    public int[] Contexts { get; init; } = [256, 1024];
    public int[] Batches { get; init; } = [1, 8];
    public (WeightFormat Ours, GgufType Theirs)[] Pairs { get; init; } = [(WeightFormat.Float32, GgufType.F32), (WeightFormat.BFloat16, GgufType.BF16), (WeightFormat.Int8, GgufType.Q8_0)];
    public int Tokens { get; init; } = 16;
    public int Runs { get; init; } = 5;
    public int Threads { get; init; } = 2;
    public string GgufDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "svae-gguf");
    public string? Json { get; init; }
    public string? Markdown { get; init; }

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            List<string> Values()
            {
                var values = new List<string>();
                while (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) values.Add(args[++i]);
                if (values.Count == 0) throw new ArgumentException($"{args[i]} needs a value");
                return values;
            }
            o = args[i] switch
            {
                "--sizes" => o with { Sizes = [.. Values()] },
                "--contexts" => o with { Contexts = [.. Values().Select(int.Parse)] },
                "--batches" => o with { Batches = [.. Values().Select(int.Parse)] },
                "--weights" => o with { Pairs = [.. Values().Select(Pair)] },
                "--tokens" => o with { Tokens = int.Parse(Values()[0]) },
                "--runs" => o with { Runs = int.Parse(Values()[0]) },
                "--threads" => o with { Threads = int.Parse(Values()[0]) },
                "--gguf-dir" => o with { GgufDirectory = Values()[0] },
                "--json" => o with { Json = Values()[0] },
                "--markdown" => o with { Markdown = Values()[0] },
                _ => throw new ArgumentException($"unknown option {args[i]} (--sizes, --contexts, --batches, --weights fp32|bf16|int8 ..., --tokens, --runs, --threads, --gguf-dir, --json, --markdown)"),
            };
        }
        return o;
    }

    // Our format and llama.cpp's counterpart: fp32 ↔ F32, bf16 ↔ BF16, int8 ↔ Q8_0.
    private static (WeightFormat, GgufType) Pair(string name) => name switch
    {
        "fp32" => (WeightFormat.Float32, GgufType.F32),
        "bf16" => (WeightFormat.BFloat16, GgufType.BF16),
        "int8" => (WeightFormat.Int8, GgufType.Q8_0),
        _ => throw new ArgumentException($"unknown weights '{name}' (fp32, bf16 or int8)"),
    };
}
