using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SentenceVae.Server;

namespace SentenceVae.Tests.Serving;

/// <summary>What an operator needs of <c>svae serve</c>: an API key on /v1 and Prometheus metrics.</summary>
public class OperationsTests
{
    [Fact]
    public async Task AnApiKeyGuardsTheApiAndMetricsCountWhatWasServed()
    {
        await using var server = SentenceVaeServer.Create(new ServerOptions { Models = [Path.Combine(TestPaths.RepoRoot, "models", "lm-256")], Port = 0, ApiKey = "sesame" });
        await server.StartAsync();
        await server.Loaded;
        using var http = new HttpClient { BaseAddress = server.Address };

        foreach (var key in new[] { null, "wrong" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models");
            if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var refused = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
        }
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health")).StatusCode);          // open without a key
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/")).StatusCode);

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "sesame");
        using var completion = await http.PostAsync("v1/completions", new StringContent("""{"model":"lm-256","prompt":"Emma smiled","max_tokens":5,"temperature":0,"stream":true}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, completion.StatusCode);
        Assert.Contains("[DONE]", await completion.Content.ReadAsStringAsync());

        http.DefaultRequestHeaders.Authorization = null;
        using var scraped = await http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        string text = await scraped.Content.ReadAsStringAsync();
        foreach (var series in new[]
                 {
                     "svae_requests_total{model=\"lm-256\",endpoint=\"/v1/completions\",status=\"200\"} 1",
                     "svae_requests_total{model=\"unknown\",endpoint=\"/v1/models\",status=\"401\"} 2",
                     "svae_output_tokens_total{model=\"lm-256\"} 5",
                     "svae_time_to_first_token_seconds_count{model=\"lm-256\"} 1",
                     "svae_inter_token_latency_seconds_count{model=\"lm-256\"} 4",
                     "svae_batch_size_count{model=\"lm-256\"} 5",                          // one engine step per token
                     "svae_queue_depth 0",
                     "svae_running_rows 0",
                 })
            Assert.Contains(series, text);
    }
}

/// <summary>What held in a probe of the server, kept as regression tests.</summary>
[Collection(ServerCollection.Name)]
public class HeldUnderAbuseTests(ServerFixture server)
{
    [Fact]
    public async Task ManySequentialRequestsAndCancelledStreamsLeakNothingAndHealthStaysUp()
    {
        async Task Complete(int maxTokens) =>
            (await server.Http.PostAsync("v1/completions", new StringContent($$"""{"model":"{{ServerFixture.Lm}}","prompt":"Emma","max_tokens":{{maxTokens}},"temperature":0}""", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        await Complete(2);                                                       // warm
        GC.Collect(); GC.WaitForPendingFinalizers();
        long before = Environment.WorkingSet;
        for (int i = 0; i < 300; i++) await Complete(2);
        int cancelledBefore = server.Service.Statistics.Cancelled;
        using var closing = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, ResponseDrainTimeout = TimeSpan.Zero }) { BaseAddress = server.Http.BaseAddress };
        for (int i = 0; i < 200; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
                { Content = new StringContent($$"""{"model":"{{ServerFixture.Lm}}","prompt":"Emma","max_tokens":900,"temperature":0,"stream":true}""", Encoding.UTF8, "application/json") };
            using var response = await closing.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            await reader.ReadLineAsync();                                        // the first event, then hang up
        }
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (server.Service.Statistics.Cancelled < cancelledBefore + 200 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(cancelledBefore + 200, server.Service.Statistics.Cancelled);
        Assert.Equal(0, server.Service.Waiting);
        GC.Collect(); GC.WaitForPendingFinalizers();
        long grown = Environment.WorkingSet - before;
        Assert.True(grown < 200L << 20, $"the working set grew by {grown >> 20} MB over 300 requests and 200 cancelled streams");
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("health")).StatusCode);
    }

    [Theory]
    [InlineData("{\"model\":\"lm-256\",\"prompt\":\"a\\u0000b\",\"max_tokens\":3}")]                 // NUL
    [InlineData("{\"model\":\"lm-256\",\"prompt\":\"x\",\"max_tokens\":3,\"temperature\":1e309}")]   // beyond double
    [InlineData("{\"model\":\"lm-256\",\"prompt\":\"x\",\"max_tokens\":3,\"top_p\":-0}")]
    [InlineData("{\"model\":\"lm-256\",\"prompt\":\"\u05e9\u05dc\u05d5\u05dd \ud83d\udc68\u200d\ud83d\udc69\",\"max_tokens\":3}")]   // RTL, ZWJ emoji
    [InlineData("{\"model\":\"lm-256\",\"prompt\":\"x\",\"max_tokens\":3,\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\",\"w\",\"x\",\"y\",\"z\"]}")]
    public async Task OddButValidOrInvalidBodiesAreAnsweredOrRefusedNeverAServerError(string body)
    {
        using var response = await server.Http.PostAsync("v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        Assert.DoesNotContain("Exception", text);
    }

    [Fact]
    public async Task DeeplyNestedJsonIsA400()
    {
        string body = new string('[', 5000) + new string(']', 5000);
        using var response = await server.Http.PostAsync("v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not valid JSON", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ASlowLorisIsCutOffWhileOthersAreServed()
    {
        await using var fresh = SentenceVaeServer.Create(new ServerOptions { Models = [Path.Combine(TestPaths.RepoRoot, "models", "lm-256")], Port = 0, RequestHeadersTimeout = TimeSpan.FromSeconds(5) });
        await fresh.StartAsync();
        await fresh.Loaded;
        using var loris = new System.Net.Sockets.TcpClient();
        await loris.ConnectAsync(fresh.Address.Host, fresh.Address.Port);
        var stream = loris.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /v1/completions HTTP/1.1\r\nHost: x\r\n"));   // and never the rest
        using var http = new HttpClient { BaseAddress = fresh.Address };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health")).StatusCode);                     // others are served meanwhile:
        Assert.Equal(0, loris.Available);                                                                // the slow client is still waiting
        var buffer = new byte[4096];
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        int read = await stream.ReadAsync(buffer, wait.Token);                                            // the server answers and closes
        Assert.Contains("408", Encoding.ASCII.GetString(buffer, 0, read));
    }
}
