using Prometheus;
using SentenceVae.Serving;

namespace SentenceVae.Server;

/// <summary>
/// The server's Prometheus series (prometheus-net, one registry per server): requests by model, endpoint
/// and status; prompt and output tokens; queue depth and running rows (read at scrape time); rows per
/// engine step; time to first token/piece and inter-token latency of completions. Label values come
/// only from what the server defines — a served model's name (else <c>unknown</c>), a known endpoint
/// (else <c>other</c>) — so no client can add series.
/// </summary>
internal sealed class ServerMetrics
{
    private readonly CollectorRegistry registry = Metrics.NewCustomRegistry();
    private readonly Counter requests, outputTokens, promptTokens;
    private readonly Histogram batchSize, firstToken, interToken;
    private readonly GenerationService service;

    /// <summary>The endpoints that have a label of their own.</summary>
    private static readonly string[] Endpoints = ["/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/embeddings"];

    public ServerMetrics(GenerationService service)
    {
        this.service = service;
        var factory = Metrics.WithCustomRegistry(registry);
        requests = factory.CreateCounter("svae_requests_total", "Requests answered, by model, endpoint and HTTP status.", "model", "endpoint", "status");
        outputTokens = factory.CreateCounter("svae_output_tokens_total", "Text tokens written by completions.", "model");
        promptTokens = factory.CreateCounter("svae_prompt_tokens_total", "Text tokens read from prompts and embedding inputs.", "model");
        var queue = factory.CreateGauge("svae_queue_depth", "Requests waiting to start.");
        var running = factory.CreateGauge("svae_running_rows", "Rows running in the models' engines now.");
        batchSize = factory.CreateHistogram("svae_batch_size", "Rows per engine step (continuous batching: rows join and leave between steps).", new HistogramConfiguration { LabelNames = ["model"], Buckets = [1, 2, 4, 8, 16, 32, 64] });
        var latency = Histogram.ExponentialBuckets(0.002, 2, 14);                 // 2 ms … 16 s
        firstToken = factory.CreateHistogram("svae_time_to_first_token_seconds", "From a completion's arrival to its first piece or token.", new HistogramConfiguration { LabelNames = ["model"], Buckets = latency });
        interToken = factory.CreateHistogram("svae_inter_token_latency_seconds", "Between a completion's consecutive updates, per text token.", new HistogramConfiguration { LabelNames = ["model"], Buckets = latency });
        registry.AddBeforeCollectCallback(() => { queue.Set(service.Waiting); running.Set(service.Running); });
        service.Stepped += (model, rows) => batchSize.WithLabels(model).Observe(rows);
    }

    /// <summary>The model's label: its name if it is served, else <c>unknown</c>.</summary>
    private string Model(string model) => service.Models.Any(m => m.Name == model) ? model : "unknown";

    /// <summary>The endpoint's label: a known route (a model's own page as <c>/v1/models/{id}</c>), else <c>other</c>.</summary>
    internal static string Endpoint(string path) =>
        Endpoints.FirstOrDefault(e => e == path) ?? (path.StartsWith("/v1/models/", StringComparison.Ordinal) && path.IndexOf('/', "/v1/models/".Length) < 0 ? "/v1/models/{id}" : "other");

    public void Request(string model, string endpoint, int status) => requests.WithLabels(Model(model), Endpoint(endpoint), status.ToString()).Inc();
    public void Tokens(string model, int prompt, int output)
    {
        promptTokens.WithLabels(Model(model)).Inc(prompt);
        outputTokens.WithLabels(Model(model)).Inc(output);
    }
    public void FirstToken(string model, TimeSpan elapsed) => firstToken.WithLabels(Model(model)).Observe(elapsed.TotalSeconds);
    public void InterToken(string model, TimeSpan elapsed, int tokens) => interToken.WithLabels(Model(model)).Observe(elapsed.TotalSeconds / Math.Max(1, tokens));

    /// <summary>Writes every series in Prometheus' text format.</summary>
    public Task Export(Stream stream, CancellationToken cancel) => registry.CollectAndExportAsTextAsync(stream, cancel);
}
