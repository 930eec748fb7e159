using Microsoft.Extensions.Logging;
using System.CommandLine;
using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Server;
using SentenceVae.Serving;

namespace SentenceVae.Cli.Commands;

/// <summary>
/// <c>svae serve</c>: the OpenAI-compatible HTTP server; <c>svae serve-bench</c>: streaming throughput at
/// several concurrencies against an in-process server on loopback.
/// </summary>
internal static class ServeCommand
{
    private static Option<string[]> Models() => new("--model")
    {
        Description = "model directory to serve (repeat for several); each is served under its directory's name", Required = true, AllowMultipleArgumentsPerToken = true,
    };

    private static Option<int> MaxBatch() => new("--max-batch") { Description = "most requests a model runs at once (rows of its decoding engine); more wait to join", DefaultValueFactory = _ => 32 };

    public static Command Create(CliIO io)
    {
        var models = Models();
        var host = new Option<string>("--host") { Description = "address to listen on (0.0.0.0 for every interface)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port (0: any free one)", DefaultValueFactory = _ => 8080 };
        var maxBatch = MaxBatch();
        var queue = new Option<int>("--queue") { Description = "most requests waiting; more get 503 (busy)", DefaultValueFactory = _ => 256 };
        var device = LmCommand.DeviceOption();
        var defaults = new GenerationServiceOptions();
        var maxCompletion = new Option<int>("--max-completion-tokens") { Description = "most max_tokens one completion may ask for", DefaultValueFactory = _ => defaults.MaxCompletionTokens };
        var maxInputs = new Option<int>("--max-embedding-inputs") { Description = "most texts in one embeddings request", DefaultValueFactory = _ => defaults.MaxEmbeddingInputs };
        var maxEmbedTokens = new Option<int>("--max-embedding-tokens") { Description = "most tokens over all texts of one embeddings request", DefaultValueFactory = _ => defaults.MaxEmbeddingTokens };
        var timeout = new Option<double>("--request-timeout") { Description = "seconds after which a completion ends with what it has written (finish_reason length); 0: no limit" };
        var apiKey = new Option<string?>("--api-key") { Description = "require Authorization: Bearer KEY on /v1/* (default: the SVAE_API_KEY environment variable, else none)" };
        var allowedHosts = new Option<string[]>("--allowed-hosts") { Description = "Host header names answered ('*': any); default on a loopback address: localhost, 127.0.0.1, [::1] (no DNS rebinding from a web page), elsewhere any", AllowMultipleArgumentsPerToken = true };
        var logLevel = new Option<string>("--log-level") { Description = "information (one line per request), warning, error, or debug (ASP.NET Core's own lines too)", DefaultValueFactory = _ => "information" };
        logLevel.AcceptOnlyFromAmong("debug", "information", "warning", "error");
        var weights = CommonOptions.Weights();
        var shutdown = new Option<double>("--shutdown-timeout") { Description = "on SIGTERM / Ctrl+C: seconds running completions may still write before they end (each stream with its final chunk)", DefaultValueFactory = _ => 30 };
        var command = new Command("serve", "Serve models over an OpenAI-compatible HTTP API (completions, chat, embeddings; streaming) with a playground page at / and Prometheus metrics at /metrics.")
            { models, host, port, maxBatch, queue, device, maxCompletion, maxInputs, maxEmbedTokens, apiKey, allowedHosts, timeout, shutdown, weights, logLevel };
        command.SetAction(async (parse, cancel) =>
        {
            int p = parse.GetValue(port);
            if (p is < 0 or > 65535) throw new CliUsageException($"--port {p}: must be in 0..65535");
            var options = new ServerOptions
            {
                Models = parse.GetValue(models)!, Host = parse.GetValue(host)!, Port = p, Device = LmCommand.ParseDevice(parse.GetValue(device)!),
                Weights = CommonOptions.ParseWeights(parse.GetValue(weights)!),
                Service = Limits(parse.GetValue(maxBatch), parse.GetValue(queue)) with
                {
                    MaxCompletionTokens = AtLeastOne(parse.GetValue(maxCompletion), "--max-completion-tokens"),
                    MaxEmbeddingInputs = AtLeastOne(parse.GetValue(maxInputs), "--max-embedding-inputs"),
                    MaxEmbeddingTokens = AtLeastOne(parse.GetValue(maxEmbedTokens), "--max-embedding-tokens"),
                    RequestTimeout = parse.GetValue(timeout) switch
                    {
                        0 => null,
                        > 0 and var s => TimeSpan.FromSeconds(s),
                        var s => throw new CliUsageException($"--request-timeout {s}: must be 0 (no limit) or positive"),
                    },
                },
                AllowedHosts = parse.GetValue(allowedHosts) is { Length: > 0 } hosts ? hosts : null,
                ApiKey = parse.GetValue(apiKey) ?? (Environment.GetEnvironmentVariable("SVAE_API_KEY") is { Length: > 0 } env ? env : null),
                ShutdownTimeout = parse.GetValue(shutdown) is var grace and >= 0 and <= 100 ? TimeSpan.FromSeconds(grace)
                    : throw new CliUsageException($"--shutdown-timeout {parse.GetValue(shutdown)}: must be in [0, 100] seconds"),
                Logging = logging =>
                {
                    // The server's own lines (one per request, faults) at the chosen level; the framework's only when debugging.
                    var level = parse.GetValue(logLevel) switch { "debug" => LogLevel.Debug, "warning" => LogLevel.Warning, "error" => LogLevel.Error, _ => LogLevel.Information };
                    logging.SetMinimumLevel(level);
                    if (level > LogLevel.Debug) logging.AddFilter("Microsoft", LogLevel.Warning);
                    logging.AddSimpleConsole(console => { console.SingleLine = true; console.TimestampFormat = "HH:mm:ss "; });
                },
            };
            await using var server = Create(options);
            try { await server.StartAsync(cancel); }
            catch (IOException e) { throw new CliUsageException($"cannot listen on {options.Host}:{p}: {e.Message}"); }
            io.Error.WriteLine($"svae: listening on {server.Address} (loading {options.Models.Count} model(s); /health says 503 until ready)");
            await server.Loaded;
            io.Error.WriteLine($"svae: ready: {string.Join(", ", server.Service.Models.Select(m => $"{m.Name} ({m.Kind.ModelType()})"))}; playground at {server.Address}");
            try { await Task.Delay(Timeout.Infinite, cancel); }
            catch (OperationCanceledException) { }
            return 0;
        });
        return command;
    }

    public static Command CreateBench(CliIO io)
    {
        var models = Models();
        var concurrency = new Option<int[]>("--concurrency") { Description = "concurrent streaming clients", DefaultValueFactory = _ => new[] { 1, 4, 16, 32 }, AllowMultipleArgumentsPerToken = true };
        var stagger = new Option<int>("--stagger-ms") { Description = "client c starts c times this many ms after the first, so requests join while others run", DefaultValueFactory = _ => 20 };
        var requests = new Option<int>("--requests") { Description = "requests per client (one after another)", DefaultValueFactory = _ => 3 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "max_tokens of each request (greedy)", DefaultValueFactory = _ => 64 };
        var data = new Option<string>("--data") { Description = "text the prompts (~300 characters each) are taken from", DefaultValueFactory = _ => "data/austen-valid.txt" };
        var maxBatch = MaxBatch();
        var json = new Option<string?>("--json") { Description = "write the rows as JSON here" };
        var weights = CommonOptions.Weights();
        var command = new Command("serve-bench", "Aggregate output tokens/s and time to first piece/token at several numbers of concurrent streaming clients (in-process server on loopback).")
            { models, concurrency, requests, maxTokens, data, maxBatch, json, stagger, weights };
        command.SetAction(async (parse, cancel) =>
        {
            string? jsonPath = parse.GetValue(json);
            if (jsonPath is not null && Path.GetDirectoryName(Path.GetFullPath(jsonPath)) is string dir && !Directory.Exists(dir))
                throw new CliUsageException($"--json {jsonPath}: directory {dir} does not exist");
            var levels = parse.GetValue(concurrency)!;
            int perClient = parse.GetValue(requests), tokens = parse.GetValue(maxTokens);
            if (levels.Length == 0 || levels.Any(c => c < 1) || perClient < 1 || tokens < 1) throw new CliUsageException("--concurrency, --requests and --max-tokens must be at least 1");
            var prompts = LoadRun.Prompts(CliInput.ReadAll(parse.GetValue(data), io), levels.Max() * perClient);
            var options = new ServerOptions { Models = parse.GetValue(models)!, Port = 0, Service = Limits(parse.GetValue(maxBatch), 1024), Weights = CommonOptions.ParseWeights(parse.GetValue(weights)!) };
            await using var server = Create(options);
            await server.StartAsync(cancel);
            await server.Loaded;
            using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(30) };
            int staggerMs = parse.GetValue(stagger);
            if (staggerMs < 0) throw new CliUsageException($"--stagger-ms {staggerMs}: must be at least 0");
            var rows = new List<LoadSummary>();
            // One-time work before anything is timed: each model's first request (its engine made, first calls), said.
            var warmUp = System.Diagnostics.Stopwatch.StartNew();
            foreach (var model in server.Service.Models)
                await LoadRun.StreamAsync(http, model.Name, prompts[0], tokens, cancel: cancel);
            io.Error.WriteLine($"svae: one-time work (a first request per model) took {warmUp.Elapsed.TotalSeconds:0.0} s; timing now");
            // The models interleaved: at each level every model in turn, the order alternating from level to level.
            for (int level = 0; level < levels.Length; level++)
            {
                int c = levels[level];
                var order = level % 2 == 0 ? server.Service.Models : server.Service.Models.Reverse().ToList();
                foreach (var model in order)
                {
                    var stats = server.Service.Statistics;
                    long iterations = stats.RowIterations, waited = stats.WaitingRowIterations;
                    var (runs, wall) = await LoadRun.RunAsync(http, model.Name, prompts, c, perClient, tokens, cancel, TimeSpan.FromMilliseconds(staggerMs));
                    var row = LoadSummary.Of(model.Name, c, runs, wall) with
                    {
                        WaitingRowFraction = (double)(stats.WaitingRowIterations - waited) / Math.Max(1, stats.RowIterations - iterations),
                    };
                    rows.Add(row);
                    io.Error.WriteLine($"svae: {model.Name} x{c}: {row.TokensPerSecond:F0} tokens/s, first p50 {row.FirstP50Ms:F0} ms p95 {row.FirstP95Ms:F0} ms, " +
                                       $"inter-token p50 {row.InterTokenP50Ms:F1} ms p95 {row.InterTokenP95Ms:F1} ms, {row.Failed} failed");
                }
            }
            io.Out.WriteLine($"| model | streams | requests | output tokens | tokens/s (aggregate) | first piece/token p50 ms | p95 ms | inter-token p50 ms | p95 ms | gap between updates p95 ms | rows waiting | failed |");
            io.Out.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in rows.OrderBy(r => r.Model).ThenBy(r => r.Concurrency))
                io.Out.WriteLine($"| {r.Model} | {r.Concurrency} | {r.Requests} | {r.OutputTokens} | {r.TokensPerSecond:F0} | {r.FirstP50Ms:F0} | {r.FirstP95Ms:F0} | " +
                                 $"{r.InterTokenP50Ms:F1} | {r.InterTokenP95Ms:F1} | {r.UpdateGapP95Ms:F0} | {r.WaitingRowFraction:P1} | {r.Failed} |");
            if (jsonPath is not null) File.WriteAllText(jsonPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
            return rows.Any(r => r.Failed > 0) ? 1 : 0;
        });
        return command;
    }

    private static int AtLeastOne(int value, string option) => value >= 1 ? value : throw new CliUsageException($"{option} {value}: must be at least 1");

    private static GenerationServiceOptions Limits(int maxBatch, int queue)
    {
        if (maxBatch < 1) throw new CliUsageException($"--max-batch {maxBatch}: must be at least 1");
        if (queue < 1) throw new CliUsageException($"--queue {queue}: must be at least 1");
        return new GenerationServiceOptions { MaxBatch = maxBatch, QueueCapacity = queue };
    }

    private static SentenceVaeServer Create(ServerOptions options)
    {
        try { return SentenceVaeServer.Create(options); }
        catch (ArgumentException e) { throw new CliUsageException(e.Message); }
    }
}
