using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SentenceVae.Checkpoints;
using SentenceVae.Serving;
using static SentenceVae.Server.OpenAiJson;

namespace SentenceVae.Server;

/// <summary>What <c>svae serve</c> serves and where.</summary>
public sealed record ServerOptions
{
    /// <summary>Model directories (sentence-level or token models); each is served under its directory's name.</summary>
    public required IReadOnlyList<string> Models { get; init; }
    /// <summary>Address to listen on (loopback by default).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>Port; 0 picks a free one (see <see cref="SentenceVaeServer.Address"/>).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>How long a client may take to send its request headers (a slow-loris client is cut off with 408).</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Largest request body; a larger one gets 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;
    /// <summary>Batching and queue limits.</summary>
    public GenerationServiceOptions Service { get; init; } = new();
    /// <summary>Loading starts when this completes (tests hold it to see the loading state).</summary>
    internal Task LoadAfter { get; init; } = Task.CompletedTask;
    /// <summary>The decode kernels' weight format for every model's decode steps (null: libtorch).</summary>
    public SentenceVae.Modules.Kernels.WeightFormat? Weights { get; init; }
    /// <summary>Device of the models (CPU unless given).</summary>
    public TorchSharp.torch.Device? Device { get; init; }
    /// <summary>When set, every <c>/v1/*</c> request needs <c>Authorization: Bearer</c> this key (401 otherwise); <c>/health</c>, <c>/metrics</c> and the playground stay open.</summary>
    public string? ApiKey { get; init; }
    /// <summary>
    /// Graceful shutdown (SIGTERM, Ctrl+C, <see cref="SentenceVaeServer.DisposeAsync"/>): new requests are
    /// refused (503) while running completions finish for up to this long; then they end by length with
    /// what they wrote, each stream with its final chunk.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// Host header values the server answers (the name before any port; "*": any). Null: a server on a
    /// loopback address answers only localhost, 127.0.0.1 and [::1] — so a web page elsewhere cannot reach it
    /// through DNS rebinding — and a server on any other address answers every host.
    /// </summary>
    public IReadOnlyList<string>? AllowedHosts { get; init; }
    /// <summary>Where the server logs (request lines, faults with their details); none unless given.</summary>
    public Action<ILoggingBuilder>? Logging { get; init; }
}

/// <summary>
/// The OpenAI-compatible HTTP server over a <see cref="GenerationService"/>: <c>GET /health</c> (503 while
/// the models load, then 200), <c>GET /v1/models</c>, <c>POST /v1/completions</c>,
/// <c>POST /v1/chat/completions</c> (with <c>"stream": true</c>: server-sent events, one per piece or
/// token, then <c>data: [DONE]</c>), <c>POST /v1/embeddings</c>, and the playground page at <c>/</c>.
/// Errors come in OpenAI's shape with their status. It keeps no per-user state: scale out by running
/// several behind any HTTP load balancer.
/// </summary>
public sealed class SentenceVaeServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly WebApplication app;
    private readonly ServerOptions options;
    private readonly TaskCompletionSource loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DateTimeOffset started = DateTimeOffset.UtcNow;
    private readonly ILogger log;
    private readonly ServerMetrics metrics;
    private readonly string[] allowedHosts;

    private SentenceVaeServer(ServerOptions options)
    {
        this.options = options;
        allowedHosts = [.. options.AllowedHosts ?? (IsLoopback(options.Host) ? ["localhost", "127.0.0.1", "[::1]", "::1"] : ["*"])];
        Service = new GenerationService(options.Service);
        metrics = new ServerMetrics(Service);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        options.Logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.Limits.RequestHeadersTimeout = options.RequestHeadersTimeout;
            if (options.Host is "localhost") k.ListenLocalhost(options.Port);
            else k.Listen(IPAddress.Parse(options.Host), options.Port);
        });
        // The host waits for in-flight requests longer than the drain lets completions run, so streams end with their final chunk, not a cut.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownTimeout + TimeSpan.FromSeconds(15));
        app = builder.Build();
        log = app.Logger;
        // The drain runs before the listener closes (stopping callbacks run before the server stops), so a
        // request that arrives meanwhile, on a new or a kept-alive connection, is answered 503 shutting_down.
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            log.LogInformation("shutting down: {Running} running and {Waiting} waiting completions get up to {Timeout} s", Service.Running, Service.Waiting, options.ShutdownTimeout.TotalSeconds);
            if (!Service.DrainAsync(options.ShutdownTimeout).GetAwaiter().GetResult())
                log.LogWarning("shutting down with completions left after the drain's deadline: {Running} running, {Waiting} waiting", Service.Running, Service.Waiting);
        });
        app.UseStatusCodePages(RouteError);
        app.Use(Guard);
        app.MapGet("/", Playground);
        app.MapMethods("/health", ["GET", "HEAD"], Health);
        app.MapGet("/metrics", ctx =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return metrics.Export(ctx.Response.Body, ctx.RequestAborted);
        });
        app.MapGet("/v1/models", ListModels);
        app.MapGet("/v1/models/{id}", (HttpContext ctx, string id) => { EnsureLoaded(); return Write(ctx, 200, ModelEntry(Service.Find(id))); });
        app.MapPost("/v1/completions", ctx => Complete(ctx, chat: false));
        app.MapPost("/v1/chat/completions", ctx => Complete(ctx, chat: true));
        app.MapPost("/v1/embeddings", Embed);
    }

    /// <summary>The service the endpoints use (models, batching).</summary>
    public GenerationService Service { get; }

    /// <summary>Where it listens, once started (e.g. <c>http://127.0.0.1:8080</c>).</summary>
    public Uri Address => new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Completes when every model is loaded (faults with the load error).</summary>
    public Task Loaded => loaded.Task;

    private Task loading => loaded.Task;
    private bool loadStarted;

    /// <summary>A server for <paramref name="options"/>; nothing listens until <see cref="StartAsync"/>.</summary>
    public static SentenceVaeServer Create(ServerOptions options)
    {
        if (options.Models.Count == 0) throw new ArgumentException("serve at least one model");
        foreach (var dir in options.Models)
            if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: no such model directory");
        if (options.Host is not "localhost" && !IPAddress.TryParse(options.Host, out _)) throw new ArgumentException($"--host {options.Host}: not an IP address (or localhost)");
        return new SentenceVaeServer(options);
    }

    /// <summary>Starts listening at once (health says 503 until the models are loaded), then loads them in the background.</summary>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        await app.StartAsync(cancel);
        loadStarted = true;
        _ = Task.Run(async () =>
        {
            try
            {
                await options.LoadAfter;
                foreach (var dir in options.Models) Service.Add(ServedModel.Load(dir, device: options.Device, weights: options.Weights));
                loaded.TrySetResult();
            }
            catch (Exception e) { loaded.TrySetException(e); }
        }, CancellationToken.None);
    }

    /// <summary>Runs until the host is stopped (Ctrl+C).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancel = default) => app.WaitForShutdownAsync(cancel);

    /// <summary>Stops gracefully (see <see cref="ServerOptions.ShutdownTimeout"/>), then frees the models.</summary>
    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        if (loadStarted)
            try { await loading; } catch { /* reported by Loaded */ }
        Service.Dispose();
    }

    // Every failure becomes an OpenAI-shaped error; nothing a request does can take the server down.
    private async Task Guard(HttpContext ctx, RequestDelegate next)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        bool api = ctx.Request.Path.StartsWithSegments("/v1");
        try
        {
            if (!HostAllowed(ctx.Request.Host.Host))
            {
                await Write(ctx, 400, Error($"this server does not answer for host '{ServingException.Echo(ctx.Request.Host.Host)}' (see --allowed-hosts)", "invalid_request_error", null, "host_not_allowed"));
                return;
            }
            if (api && options.ApiKey is { } key && !KeyMatches(ctx.Request.Headers.Authorization.ToString(), key))
            {
                await Write(ctx, 401, Error(ctx.Request.Headers.Authorization.Count == 0 ? "an API key is required: send Authorization: Bearer KEY" : "the API key is not valid",
                    "invalid_request_error", null, "invalid_api_key"));
                return;
            }
            if (api && HttpMethods.IsPost(ctx.Request.Method) && !IsJson(ctx.Request.ContentType))
            {
                await Write(ctx, 415, Error($"the body must be JSON: send Content-Type: application/json (got '{ServingException.Echo(ctx.Request.ContentType ?? "none")}')",
                    "invalid_request_error", null, "unsupported_media_type"));
                return;
            }
            await next(ctx);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            var error = ErrorFor(e, ctx.TraceIdentifier, options.MaxRequestBodyBytes);
            if (error.Status == 500) log.LogError(e, "request {RequestId} {Method} {Path} failed", ctx.TraceIdentifier, ctx.Request.Method, ctx.Request.Path);
            if (error.Status == 503) ctx.Response.Headers.RetryAfter = "1";
            await Write(ctx, error.Status, error.Body);
        }
        catch (Exception e)
        {
            log.LogError(e, "request {RequestId} {Method} {Path} failed after its response began", ctx.TraceIdentifier, ctx.Request.Method, ctx.Request.Path);
            ctx.Abort();                       // the response had begun (a stream): end it
        }
        finally
        {
            if (api)
            {
                string model = ctx.Items["svae.model"] as string ?? "";
                metrics.Request(model, ctx.Request.Path, ctx.Response.StatusCode);
                log.LogInformation("request {RequestId} {Method} {Path} model={Model} status={Status} prompt_tokens={PromptTokens} completion_tokens={CompletionTokens} ttft_ms={Ttft} duration_ms={Duration}",
                    ctx.TraceIdentifier, ctx.Request.Method, ServingException.Echo(ctx.Request.Path.ToString(), 256), ServingException.Echo(model), ctx.Response.StatusCode, ctx.Items["svae.prompt_tokens"] ?? 0, ctx.Items["svae.completion_tokens"] ?? 0,
                    ctx.Items["svae.ttft_ms"] ?? 0, (long)clock.Elapsed.TotalMilliseconds);
            }
        }
    }

    /// <summary>
    /// Whether an Authorization header carries the key: the scheme "Bearer" in any case (RFC 7235), the
    /// key compared in constant time (both hashed first, so neither its bytes nor its length leak through timing).
    /// </summary>
    internal static bool KeyMatches(string authorization, string key)
    {
        const string scheme = "Bearer ";
        if (authorization.Length < scheme.Length || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var sent = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim()));
        var expected = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(key));
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(sent, expected);
    }

    /// <summary>application/json or any +json type, with or without parameters (charset).</summary>
    internal static bool IsJson(string? contentType) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var type)
        && (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    private bool HostAllowed(string host) => allowedHosts.Any(a => a == "*" || string.Equals(a, host, StringComparison.OrdinalIgnoreCase));

    private static bool IsLoopback(string host) => host == "localhost" || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));

    /// <summary>
    /// The status and OpenAI-shaped body for an exception: the client's mistakes (400/404/413) and a busy
    /// or loading server (503) say what is wrong; anything else is 500 with a generic message and the
    /// request id — its type, message and stack stay in the server log.
    /// </summary>
    internal static (int Status, object Body) ErrorFor(Exception e, string requestId, long maxBodyBytes)
    {
        var (status, type, param, code, message) = e switch
        {
            ServingException { Error: ServingError.ModelNotFound } s => (404, "invalid_request_error", s.Param, s.Code, s.Message),
            ServingException { Error: ServingError.Busy } s => (503, "server_error", s.Param, s.Code, s.Message),
            ServingException { Error: ServingError.ModelFault } s => (500, "server_error", s.Param, s.Code, $"{s.Message} (request {requestId})"),
            ServingException s => (400, "invalid_request_error", s.Param, s.Code, s.Message),
            BadHttpRequestException { StatusCode: 413 } => (413, "invalid_request_error", null, "request_too_large",
                $"the request body is larger than {maxBodyBytes} bytes"),
            BadHttpRequestException b => (b.StatusCode, "invalid_request_error", null, null, "the request could not be read (malformed HTTP or an incomplete body)"),
            JsonException j => (400, "invalid_request_error", null, "invalid_json", $"the body is not valid JSON ({Where(j)})"),
            NotReadyException => (503, "server_error", null, "loading", "the models are still loading; try again shortly"),
            _ => (500, "server_error", (string?)null, (string?)null, $"the server failed on this request; the server log has the details under request id {requestId}"),
        };
        return (status, Error(message, type, param, code));
    }

    private static string Where(JsonException j) => j.LineNumber is long line ? $"line {line + 1}, byte {j.BytePositionInLine + 1}" : "not JSON";

    // A route that answers with a bare status (unknown path 404, wrong method 405, …) answers in OpenAI's shape too.
    private static Task RouteError(StatusCodeContext status)
    {
        var ctx = status.HttpContext;
        int code = ctx.Response.StatusCode;
        string message = code switch
        {
            404 => $"no route {ServingException.Echo(ctx.Request.Path.ToString())}; the API is under /v1 (models, completions, chat/completions, embeddings)",
            405 => $"{ServingException.Echo(ctx.Request.Method)} is not allowed on {ServingException.Echo(ctx.Request.Path.ToString())}",
            413 => "the request body is too large",
            _ => $"HTTP {code}",
        };
        return Write(ctx, code, Error(message, code >= 500 ? "server_error" : "invalid_request_error", null, code == 404 ? "not_found" : null));
    }

    private sealed class NotReadyException : Exception;

    private void EnsureLoaded()
    {
        if (!loading.IsCompletedSuccessfully) throw loading.IsFaulted ? loading.Exception!.InnerException! : new NotReadyException();
    }

    private static Task Playground(HttpContext ctx)
    {
        using var page = typeof(SentenceVaeServer).Assembly.GetManifestResourceStream("SentenceVae.Server.index.html")!;
        ctx.Response.ContentType = "text/html; charset=utf-8";
        return page.CopyToAsync(ctx.Response.Body);
    }

    private Task Health(HttpContext ctx) => loading switch
    {
        { IsCompletedSuccessfully: true } => Write(ctx, 200, new { status = "ok", models = Service.Models.Select(m => m.Name) }),
        { IsFaulted: true } => Write(ctx, 500, new { status = "error", message = loading.Exception!.InnerException!.Message }),
        _ => Write(ctx, 503, new { status = "loading" }),
    };

    private Task ListModels(HttpContext ctx)
    {
        EnsureLoaded();
        return Write(ctx, 200, new { @object = "list", data = Service.Models.Select(ModelEntry) });
    }

    private object ModelEntry(ServedModel m) =>
        new { id = m.Name, @object = "model", created = started.ToUnixTimeSeconds(), owned_by = "svae", kind = m.Kind.ModelType(), max_positions = m.MaxPositions, generation_defaults = m.Defaults };

    private static async Task<JsonElement> Body(HttpContext ctx)
    {
        using var document = await JsonDocument.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
        if (document.RootElement.ValueKind != JsonValueKind.Object) throw Bad("the body must be a JSON object", null);
        return document.RootElement.Clone();
    }

    private async Task Complete(HttpContext ctx, bool chat)
    {
        EnsureLoaded();
        var body = await Body(ctx);
        OnlyKnown(body, chat ? ChatFields : CompletionFields);
        string prompt = chat ? ChatPrompt.Format(Messages(body)) : Prompt(body);
        var request = Completion(body, prompt, name => Service.Models.FirstOrDefault(m => m.Name == name)?.Defaults);
        ctx.Items["svae.model"] = request.Model;
        bool streaming = Bool(body, "stream");
        bool includeUsage = IncludeUsage(body, streaming);
        var stream = Service.Submit(request, ctx.RequestAborted);     // bad requests and a full queue fail here, before any output
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        bool seen = false;
        // Time to the first piece/token and between updates (per text token), then the usage: for /metrics and the request log.
        void Observe(CompletionUpdate update)
        {
            var now = clock.Elapsed;
            if (!seen) { metrics.FirstToken(request.Model, now); ctx.Items["svae.ttft_ms"] = (long)now.TotalMilliseconds; seen = true; }
            else metrics.InterToken(request.Model, now - last, update.Tokens);
            last = now;
        }
        void Done()
        {
            metrics.Tokens(request.Model, stream.Usage.PromptTokens, stream.Usage.CompletionTokens);
            ctx.Items["svae.prompt_tokens"] = stream.Usage.PromptTokens;
            ctx.Items["svae.completion_tokens"] = stream.Usage.CompletionTokens;
        }
        string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string kind = chat ? "chat.completion" : "text_completion";
        if (!streaming)
        {
            var text = new StringBuilder();
            await foreach (var update in stream.ReadAllAsync(ctx.RequestAborted)) { Observe(update); text.Append(update.Text); }
            Done();
            string finish = FinishReason(stream.FinishReason!.Value);
            object choice = chat
                ? new { index = 0, message = new { role = "assistant", content = text.ToString() }, logprobs = (object?)null, finish_reason = finish }
                : new { index = 0, text = text.ToString(), logprobs = (object?)null, finish_reason = finish };
            await Write(ctx, 200, new { id, @object = kind, created, model = request.Model, choices = new[] { choice }, usage = Usage(stream.Usage) });
            return;
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        string chunkKind = chat ? "chat.completion.chunk" : "text_completion";
        bool first = true;
        object Choice(string text, string? finish) => chat
            ? new { index = 0, delta = first ? new { role = "assistant", content = text } : (object)new { content = text }, logprobs = (object?)null, finish_reason = finish }
            : new { index = 0, text, logprobs = (object?)null, finish_reason = finish };
        // With stream_options.include_usage every chunk has "usage": null and one more chunk (no choices) carries it, as OpenAI streams.
        object Chunk(object[] choices, object? usage = null) => includeUsage
            ? new { id, @object = chunkKind, created, model = request.Model, choices, usage, svae_tokens = 0 }
            : new { id, @object = chunkKind, created, model = request.Model, choices, svae_tokens = 0 };
        // One event per update (piece or token); svae_tokens: the text tokens it holds (for live tokens/s).
        // A request that fails once its stream has begun gets an error event (OpenAI's shape) and the stream ends.
        try
        {
            await foreach (var update in stream.ReadAllAsync(ctx.RequestAborted))
            {
                if (update.Text.Length == 0 && update.Tokens == 0) continue;
                Observe(update);
                await Event(ctx, includeUsage
                    ? new { id, @object = chunkKind, created, model = request.Model, choices = new[] { Choice(update.Text, null) }, usage = (object?)null, svae_tokens = update.Tokens }
                    : new { id, @object = chunkKind, created, model = request.Model, choices = new[] { Choice(update.Text, null) }, svae_tokens = update.Tokens });
                first = false;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ctx.RequestAborted.IsCancellationRequested)
        {
            var error = ErrorFor(e, ctx.TraceIdentifier, options.MaxRequestBodyBytes);
            if (error.Status == 500) log.LogError(e, "request {RequestId} failed while streaming", ctx.TraceIdentifier);
            await Event(ctx, error.Body);
            await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
            return;
        }
        Done();
        await Event(ctx, Chunk([Choice("", FinishReason(stream.FinishReason!.Value))]));
        if (includeUsage) await Event(ctx, Chunk([], Usage(stream.Usage)));
        await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    private async Task Embed(HttpContext ctx)
    {
        EnsureLoaded();
        var body = await Body(ctx);
        OnlyKnown(body, EmbeddingFields);
        string model = String(body, "model") ?? throw Bad("model is required", "model");
        ctx.Items["svae.model"] = model;
        if (Field(body, "input") is null) throw Bad("input is required", "input");
        var inputs = Strings(body, "input");
        string format = String(body, "encoding_format") ?? "float";
        if (format is not ("float" or "base64")) throw Bad("encoding_format must be float or base64", "encoding_format");
        var result = await Service.EmbedAsync(model, inputs, ctx.RequestAborted);
        metrics.Tokens(model, result.PromptTokens, 0);
        ctx.Items["svae.prompt_tokens"] = result.PromptTokens;
        await Write(ctx, 200, new
        {
            @object = "list",
            data = result.Vectors.Select((v, i) => new
            {
                @object = "embedding", index = i,
                embedding = format == "float" ? (object)v : Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan())),
            }),
            model,
            usage = new { prompt_tokens = result.PromptTokens, total_tokens = result.PromptTokens },
        });
    }

    private static async Task Write(HttpContext ctx, int status, object value)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(JsonSerializer.Serialize(value, Json), ctx.RequestAborted);
    }

    private static async Task Event(HttpContext ctx, object chunk)
    {
        await ctx.Response.WriteAsync($"data: {JsonSerializer.Serialize(chunk, Json)}\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }
}
