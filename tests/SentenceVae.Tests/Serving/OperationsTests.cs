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
                     "svae_requests_total{model=\"\",endpoint=\"/v1/models\",status=\"401\"} 2",
                     "svae_output_tokens_total{model=\"lm-256\"} 5",
                     "svae_time_to_first_token_seconds_count{model=\"lm-256\"} 1",
                     "svae_inter_token_latency_seconds_count{model=\"lm-256\"} 4",
                     "svae_batch_size_count{model=\"lm-256\"} 1",
                     "svae_queue_depth 0",
                     "svae_running_rows 0",
                 })
            Assert.Contains(series, text);
    }
}
