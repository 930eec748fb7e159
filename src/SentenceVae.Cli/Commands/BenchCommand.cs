using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ScottPlot;
using SentenceVae.Data;
using SentenceVae.Evaluation;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae bench</c>: the paper's comparison (speed, perplexity, memory) measured side by side in one run.</summary>
internal static class BenchCommand
{
    /// <summary><c>svae bench models|paper|kernel|replot</c>: one subcommand per kind of benchmark.</summary>
    public static Command Create(CliIO io) => new("bench", "Benchmarks: trained models side by side (models), the paper's sizes with random weights (paper), one decode kernel (kernel), figures redrawn from a report (replot).")
    {
        Models(io), Paper(io), Kernel(io), Replot(io),
    };

    private static Option<string?> Json() => new("--json") { Description = "write the JSON report here ('-' for standard output)" };
    private static Option<string?> Markdown() => new("--markdown") { Description = "write the markdown table here" };
    private static Option<string?> MemoryPlot() => new("--plot") { Description = "write a PNG of KV-cache bytes and memory growth vs context length" };
    private static Option<string?> ParetoPlot() => new("--pareto") { Description = "write a PNG of bits per byte vs output tokens/s (at the 256-token prompt, else the middle one) for every model" };
    private static Option<string?> FrontierPlot() => new("--frontier") { Description = "write PNGs of bits/byte vs output tokens/s, one per batch size (FILE-b1.png, FILE-b16.png…), each family's Pareto front" };
    private static Option<int> Threads() => new("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => 2 };
    private static Option<int> Runs(int fallback) => new("--runs") { Description = $"timed runs per figure (median), after each engine's warm-up (default {fallback})", DefaultValueFactory = _ => fallback };

    /// <summary>Every output's folder must exist before a run of many minutes starts.</summary>
    private static void FoldersExist(params string?[] paths)
    {
        foreach (var path in paths)
            if (path is not null && path != "-" && Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder && !Directory.Exists(folder))
                throw new DirectoryNotFoundException($"{path}: the folder {folder} does not exist");
    }

    private static Command Models(CliIO io)
    {
        var baseline = new Option<string>("--baseline") { Description = "token-level baseline model directory (e.g. models/lm-256)", Required = true };
        var models = new Option<string[]>("--models") { Description = "models to compare with the baseline: sentence-level LLMs or other token models (e.g. models/sllm-256-e2e)", AllowMultipleArgumentsPerToken = true, Required = true };
        var data = new Option<string>("--data") { Description = "text to evaluate and take prompts from (one document per line)", Required = true };
        var prompts = new Option<int[]>("--prompt-tokens") { Description = "prompt lengths in tokens", DefaultValueFactory = _ => new[] { 64, 256, 1024 }, AllowMultipleArgumentsPerToken = true };
        var output = new Option<int>("--output-tokens") { Description = "output tokens timed per run", DefaultValueFactory = _ => 32 };
        var evalTokens = new Option<long>("--eval-tokens") { Description = "evaluate only about this many tokens of the text (0: all)" };
        var batches = new Option<int[]>("--batch") { Description = "batch sizes at which output speed is timed", DefaultValueFactory = _ => new[] { 1 }, AllowMultipleArgumentsPerToken = true };
        var scored = new Option<string[]>("--score") { Description = "further texts scored for bits/byte only (e.g. an out-of-domain text)", AllowMultipleArgumentsPerToken = true };
        var weights = CommonOptions.Weights();
        Option<string?> json = Json(), markdown = Markdown(), plot = MemoryPlot(), pareto = ParetoPlot(), frontier = FrontierPlot();
        Option<int> threads = Threads(), runs = Runs(5);
        var command = new Command("models", "Trained models side by side: ppl, bits/byte, output tok/s, KV bytes/token, ratios against the baseline, timed interleaved.")
            { baseline, models, data, prompts, output, evalTokens, batches, scored, weights, threads, runs, json, markdown, plot, pareto, frontier };
        command.SetAction(parse =>
        {
            FoldersExist(parse.GetValue(json), parse.GetValue(markdown), parse.GetValue(plot), parse.GetValue(pareto), parse.GetValue(frontier));
            var documents = CorpusReader.ReadDocuments(parse.GetValue(data)!).ToList();
            if (documents.Count == 0) throw new InvalidDataException($"{parse.GetValue(data)}: no text to benchmark on (every line is empty)");
            if (parse.GetValue(batches) is not { Length: > 0 } sizesWanted || sizesWanted.Any(b => b < 1))
                throw new CliUsageException($"--batch sizes must be at least 1 (are {string.Join(" ", parse.GetValue(batches)!)})");
            var texts = new Dictionary<string, IReadOnlyList<string>>();
            foreach (var path in parse.GetValue(scored) ?? [])
            {
                var docs = CorpusReader.ReadDocuments(path).ToList();
                if (docs.Count == 0) throw new InvalidDataException($"{path}: no text to score (every line is empty)");
                texts[Path.GetFileName(path)] = docs;
            }
            var report = Benchmark.Run(parse.GetValue(baseline)!, parse.GetValue(models)!, documents, new BenchmarkOptions
            {
                Runs = parse.GetValue(runs), PromptTokens = parse.GetValue(prompts)!, OutputTokens = parse.GetValue(output),
                EvalTokens = parse.GetValue(evalTokens), Threads = parse.GetValue(threads), Batches = parse.GetValue(batches)!.Distinct().ToArray(), ScoredTexts = texts,
                Weights = CommonOptions.ParseWeights(parse.GetValue(weights)!),
            }, message => io.Error.WriteLine($"[bench] {message}"));
            string table = Benchmark.Markdown(report);
            Write(parse.GetValue(markdown), table, io);
            if (parse.GetValue(json) is { } jsonPath) Write(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) + "\n", io);
            if (parse.GetValue(plot) is { } png) BenchPlots.Plot(report, png);
            if (parse.GetValue(pareto) is { } paretoPng) BenchPlots.Pareto(report, paretoPng);
            if (parse.GetValue(frontier) is { } frontierPng)
                foreach (int batch in parse.GetValue(batches)!.Distinct()) BenchPlots.Frontier(report, batch, BenchPlots.FrontierPath(frontierPng, batch));
            if (parse.GetValue(json) != "-") io.Out.Write(table);
            return 0;
        });
        return command;
    }

    private static Command Paper(CliIO io)
    {
        var sizes = new Option<string[]>("--sizes") { Description = "sizes to measure", DefaultValueFactory = _ => new[] { "125m", "350m", "1.3b" }, AllowMultipleArgumentsPerToken = true };
        var layers = new Option<int[]>("--h") { Description = "Sentence Encoder/Decoder layers of the SLLMs", DefaultValueFactory = _ => new[] { 1, 2, 4 }, AllowMultipleArgumentsPerToken = true };
        var batches = new Option<int[]>("--batch") { Description = "batch sizes (default 1 8)", AllowMultipleArgumentsPerToken = true };
        var prompts = new Option<int[]>("--prompt-tokens") { Description = "prompt lengths in tokens (default the paper's)", AllowMultipleArgumentsPerToken = true };
        var data = new Option<string>("--data") { Description = "the text whose mean tokens per piece the pieces get", DefaultValueFactory = _ => "data/austen-valid.txt" };
        var weights = CommonOptions.Weights();
        Option<string?> json = Json(), markdown = Markdown(), plot = MemoryPlot();
        Option<int> threads = Threads(), runs = Runs(2);
        var command = new Command("paper", "The paper's sizes (OPT-125M/350M/1.3B against SLLM-H1/H2/H4) with random weights: steps, their memory bound, speed ratios.")
            { sizes, layers, batches, prompts, data, weights, threads, runs, json, markdown, plot };
        command.SetAction(parse =>
        {
            FoldersExist(parse.GetValue(json), parse.GetValue(markdown), parse.GetValue(plot));
            var matrix = new PaperBenchOptions
            {
                TokensPerPiece = 1, Sizes = parse.GetValue(sizes)!, H = parse.GetValue(layers)!, Runs = parse.GetValue(runs),
                Weights = CommonOptions.ParseWeights(parse.GetValue(weights)!),
            };
            if (parse.GetValue(batches) is { Length: > 0 } b) matrix = matrix with { Batches = b };
            if (parse.GetValue(prompts) is { Length: > 0 } p) matrix = matrix with { Prompts = p, CompactPrompt = p[0] };
            return PaperShapes(matrix, parse.GetValue(threads), parse.GetValue(data)!, parse.GetValue(json), parse.GetValue(markdown), parse.GetValue(plot), io);
        });
        return command;
    }

    private static Command Kernel(CliIO io)
    {
        var shape = new Argument<string>("OUTxIN") { Description = "the projection's shape, e.g. 50272x2048" };
        var json = Json();
        Option<int> threads = Threads(), runs = Runs(5);
        var command = new Command("kernel", "One decode kernel against libtorch and a plain read of the same bytes (rows 1-8, fp32/bf16/int8, 1-2 threads; random weights).") { shape, threads, runs, json };
        command.SetAction(parse =>
        {
            FoldersExist(parse.GetValue(json));
            string value = parse.GetValue(shape)!;
            var parts = value.Split('x');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int outputs) || !int.TryParse(parts[1], out int inputs) || outputs < 1 || inputs < 1)
                throw new CliUsageException($"bench kernel {value}: expected OUTxIN, e.g. 50272x2048");
            TorchSharp.torch.set_num_threads(parse.GetValue(threads));
            var (timings, plain, pack) = KernelBench.Run(outputs, inputs, parse.GetValue(runs));
            io.Error.WriteLine($"svae: one-time work (the kernels packing their weights) took {pack:0.00} s, before anything was timed");
            io.Out.WriteLine($"{outputs} x {inputs} ({(long)outputs * inputs * 4 / 1e6:0} MB fp32), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; a plain read of memory: {plain:0.0} GB/s");
            io.Out.WriteLine("| method | rows | threads | ms | GB/s of its weights | time vs libtorch |");
            io.Out.WriteLine("|---|---|---|---|---|---|");
            foreach (var t in timings) io.Out.WriteLine($"| {t.Method} | {t.Rows} | {t.Threads} | {t.Ms:0.00} | {t.GBPerS:0.0} | {t.TimeVsLibtorch:0.00}x |");
            if (parse.GetValue(json) is { } kernelJson) Write(kernelJson, JsonSerializer.Serialize(new { outputs, inputs, plain_read_gb_s = plain, pack_s = pack, timings }, new JsonSerializerOptions { WriteIndented = true }) + "\n", io);
            return 0;
        });
        return command;
    }

    private static Command Replot(CliIO io)
    {
        var report = new Argument<string>("REPORT.json") { Description = "a report written by 'svae bench models --json'" };
        Option<string?> plot = MemoryPlot(), pareto = ParetoPlot(), frontier = FrontierPlot();
        var command = new Command("replot", "Draw the figures of a report written earlier, without measuring anything.") { report, frontier, pareto, plot };
        command.SetAction(parse =>
        {
            FoldersExist(parse.GetValue(plot), parse.GetValue(pareto), parse.GetValue(frontier));
            string saved = parse.GetValue(report)!;
            if (!File.Exists(saved)) throw new FileNotFoundException($"{saved}: no such file", saved);
            BenchmarkReport earlier;
            try { earlier = JsonSerializer.Deserialize<BenchmarkReport>(File.ReadAllText(saved)) ?? throw new InvalidDataException($"{saved}: empty"); }
            catch (JsonException e) { throw new InvalidDataException($"{saved}: not a benchmark report ({e.Message.Split('.')[0]})"); }
            if (parse.GetValue(frontier) is { } frontierOut)
                foreach (int batch in BenchPlots.BatchesOf(earlier)) BenchPlots.Frontier(earlier, batch, BenchPlots.FrontierPath(frontierOut, batch));
            if (parse.GetValue(pareto) is { } paretoOut) BenchPlots.Pareto(earlier, paretoOut);
            if (parse.GetValue(plot) is { } memoryOut) BenchPlots.Plot(earlier, memoryOut);
            return 0;
        });
        return command;
    }

    /// <summary><c>bench paper</c>: the paper's sizes with random weights; pieces get the mean tokens per piece of <paramref name="dataPath"/>.</summary>
    private static int PaperShapes(PaperBenchOptions matrix, int threads, string dataPath, string? json, string? markdown, string? plot, CliIO io)
    {
        foreach (var size in matrix.Sizes) PaperBench.Backbone(size);                           // unknown sizes fail before anything runs
        int runs = matrix.Runs;
        if (runs < 1) throw new CliUsageException($"--runs {runs}: must be at least 1");
        if (matrix.H.Any(h => h < 1) || matrix.Batches.Any(b => b < 1) || matrix.Prompts.Any(p => p < 1)) throw new CliUsageException("--h, --batch and --prompt-tokens must be at least 1");
        TorchSharp.torch.set_num_threads(threads);
        var splitter = new Text.SentenceSplitter(new Text.SplitterOptions { MaxTokens = 63, CountTokens = Text.TextTokenizers.Gpt2.CountTokens });
        var counts = CorpusReader.ReadDocuments(dataPath).SelectMany(splitter.Split).Select(Text.TextTokenizers.Gpt2.CountTokens).ToList();
        if (counts.Count == 0) throw new InvalidDataException($"{dataPath}: no text to measure pieces on");
        double mean = counts.Average();
        int tokensPerPiece = (int)Math.Round(mean);
        string date = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'");
        io.Error.WriteLine($"[bench] {dataPath}: {counts.Count} pieces, {mean:0.00} GPT-2 tokens per piece on average -> pieces of {tokensPerPiece}; {threads} threads");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var skipped = new List<string>();
        var rows = PaperBench.Run(matrix with { TokensPerPiece = tokensPerPiece },
            m => io.Error.WriteLine($"[bench] {clock.Elapsed:mm\\:ss} {m}"), skipped);
        string table = PaperBench.Markdown(rows, tokensPerPiece, date)
            + (skipped.Count > 0 ? $"\nNot measured (the pair would not fit in memory): {string.Join("; ", skipped)}.\n" : "");
        Write(markdown, table, io);
        if (json is not null)
            Write(json, JsonSerializer.Serialize(new
            {
                date, tokens_per_piece = tokensPerPiece, mean_tokens_per_piece = mean, data = dataPath, weights = Modules.Kernels.WeightFormats.Name(matrix.Weights), threads, runs,
                seconds = clock.Elapsed.TotalSeconds, skipped, rows,
            }, new JsonSerializerOptions { WriteIndented = true }) + "\n", io);
        if (plot is not null) BenchPlots.PaperPlot(rows, plot);
        if (json != "-") io.Out.Write(table);
        return 0;
    }

    private static void Write(string? path, string content, CliIO io)
    {
        if (path is null) return;
        if (path == "-") io.Out.Write(content);
        else File.WriteAllText(path, content);
    }

}
