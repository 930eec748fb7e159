using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SentenceVae.Server;
using SentenceVae.Serving;
using SentenceVae.Text;

namespace SentenceVae.Tests.Serving;

/// <summary>
/// What one client can do to a server and to the other clients, case by case over real HTTP: bodies and
/// headers the server refuses with why, metrics and logs no request can inflate, and a drain that answers.
/// </summary>
[Collection(ServerCollection.Name)]
public class RequestHygieneTests(ServerFixture server)
{
    private Task<HttpResponseMessage> Post(string path, string body, string contentType = "application/json") =>
        server.Http.PostAsync(path, new StringContent(body, Encoding.UTF8, contentType));

    private static async Task<JsonElement> Error(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");

    public static TheoryData<string, string, string, string> Unhonourable => new()
    {
        { "v1/chat/completions", """{"model":"lm-256","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_object"}}""", "response_format", "unsupported_parameter" },
        { "v1/chat/completions", """{"model":"lm-256","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f"}}]}""", "tools", "unsupported_parameter" },
        { "v1/chat/completions", """{"model":"lm-256","messages":[{"role":"user","content":"a"}],"tool_choice":"auto"}""", "tool_choice", "unsupported_parameter" },
        { "v1/chat/completions", """{"model":"lm-256","messages":[{"role":"user","content":"a"}],"functions":[{"name":"f"}]}""", "functions", "unsupported_parameter" },
        { "v1/embeddings", """{"model":"sllm-256-e2e","input":"a","dimensions":2}""", "dimensions", "unsupported_parameter" },
        { "v1/completions", """{"model":"lm-256","prompt":"a","logit_bias":[1]}""", "logit_bias", "invalid_value" },
        { "v1/completions", """{"model":"lm-256","prompt":"a","logit_bias":"x"}""", "logit_bias", "invalid_value" },
        { "v1/completions", """{"model":"lm-256","prompt":"a","max_token":5}""", "max_token", "unknown_parameter" },
        { "v1/embeddings", """{"model":"sllm-256-e2e","input":"a","inputs":"b"}""", "inputs", "unknown_parameter" },
        { "v1/completions", """{"model":"lm-256","prompt":"a","repetition_penalty":1e-40}""", "repetition_penalty", "" },
        { "v1/completions", """{"model":"lm-256","prompt":"a","seed":9223372036854775808}""", "seed", "invalid_value" },
    };

    [Theory]
    [MemberData(nameof(Unhonourable))]
    public async Task AFieldThatCannotBeHonouredOrIsUnknownIsA400NamingIt(string path, string body, string param, string code)
    {
        using var response = await Post(path, body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await Error(response);
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString() ?? "");
        if (param == "seed") Assert.Contains("out of range", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task ABodyThatIsNotJsonIsA415AndBadUtf8IsNamedAsSuch()
    {
        using var plain = await Post("v1/completions", """{"model":"lm-256","prompt":"a","max_tokens":1}""", "text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, plain.StatusCode);
        Assert.Equal("unsupported_media_type", (await Error(plain)).GetProperty("code").GetString());

        var bytes = Encoding.UTF8.GetBytes("""{"model":"lm-256","prompt":"Emma X","max_tokens":1}""");
        int x = Array.IndexOf(bytes, (byte)'X');
        var broken = bytes[..x].Concat(new byte[] { 0xff, 0xfe }).Concat(bytes[(x + 1)..]).ToArray();
        using var content = new ByteArrayContent(broken);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await server.Http.PostAsync("v1/completions", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("UTF-8", (await Error(response)).GetProperty("message").GetString());
    }

    [Fact]
    public async Task AnotherHostIsRefusedOnALoopbackServer()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent("""{"model":"lm-256","prompt":"a","max_tokens":1}""", Encoding.UTF8, "application/json") };
        request.Headers.Host = "x";                                                     // what a rebinding web page sends
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("host_not_allowed", (await Error(response)).GetProperty("code").GetString());
        using var head = await server.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "health"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);                              // HEAD /health answers as GET does
    }

    [Fact]
    public async Task BogusModelsAndRoutesAddNoMetricSeriesAndAreEchoedShort()
    {
        async Task<int> Series()
        {
            var text = await server.Http.GetStringAsync("metrics");
            return text.Split('\n').Count(l => l.StartsWith("svae_requests_total{", StringComparison.Ordinal));
        }
        using (var warm = await Post("v1/completions", """{"model":"bogus-warm","prompt":"a"}""")) { }
        using (var route = await server.Http.GetAsync("v1/nothing-warm")) { }
        int before = await Series();
        for (int i = 0; i < 1000; i++)
        {
            using var response = await Post("v1/completions", $$"""{"model":"bogus-{{i}}","prompt":"a"}""");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        for (int i = 0; i < 200; i++)
        {
            using var response = await server.Http.GetAsync($"v1/nothing-{i}");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        Assert.Equal(before, await Series());

        string huge = new('m', 500_000);
        using var big = await Post("v1/completions", $$"""{"model":"{{huge}}","prompt":"a"}""");
        Assert.Equal(HttpStatusCode.NotFound, big.StatusCode);
        Assert.InRange((await big.Content.ReadAsStringAsync()).Length, 1, 2000);         // the name is echoed cut, not whole
    }

    [Theory]
    [InlineData("Bearer sesame", true)]
    [InlineData("bearer sesame", true)]                        // the scheme is case-insensitive (RFC 7235)
    [InlineData("BEARER  sesame ", true)]
    [InlineData("Bearer sesam", false)]
    [InlineData("Bearer sesame2", false)]
    [InlineData("Basic sesame", false)]
    [InlineData("sesame", false)]
    [InlineData("", false)]
    public void TheApiKeyIsMatchedWithAnySchemeCase(string header, bool matches) =>
        Assert.Equal(matches, SentenceVaeServer.KeyMatches(header, "sesame"));

    [Fact]
    public void ASentenceLevelPromptOfMoreTokensThanTheModelReadsIsRefusedBeforeItIsSplit()
    {
        // One grapheme cluster of 300,000 combining marks: refused from its token count, never split.
        var e = Assert.Throws<ServingException>(() => server.Service.Submit(new CompletionRequest { Model = ServerFixture.Sllm, Prompt = "a" + new string('\u0301', 300_000), MaxTokens = 5 }));
        Assert.Equal(("prompt", "context_length_exceeded"), (e.Param, e.Code));
    }
}

/// <summary>A drain keeps the listener open: requests on new and kept-alive connections are answered 503 shutting_down.</summary>
public class DrainTests
{
    [Fact]
    public async Task RequestsDuringTheDrainGet503ShuttingDownOnNewAndKeptAliveConnections()
    {
        var server = SentenceVaeServer.Create(new ServerOptions { Models = [Path.Combine(TestPaths.RepoRoot, "models", "lm-256")], Port = 0, ShutdownTimeout = TimeSpan.FromSeconds(60) });
        await server.StartAsync();
        await server.Loaded;
        var hold = new IsolationTests.Gate(TextTokenizers.Compact, "hold");
        server.Service.Add(hold);
        using var kept = new HttpClient { BaseAddress = server.Address };
        Assert.Equal(HttpStatusCode.OK, (await kept.GetAsync("health")).StatusCode);      // a connection kept alive from before
        var held = IsolationTests.Hold(server.Service, hold);                               // the worker is busy: the drain waits
        var stopping = Task.Run(async () => await server.DisposeAsync());
        while (!server.Service.Draining) await Task.Delay(10);

        const string body = """{"model":"lm-256","prompt":"Emma","max_tokens":2}""";
        using var fresh = new HttpClient { BaseAddress = server.Address };
        foreach (var http in new[] { kept, fresh })
        {
            using var response = await http.PostAsync("v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("shutting_down", error.GetProperty("code").GetString());
        }
        hold.Open.Set();
        await held;
        await stopping;                                                                     // the drain ends once the worker is free
    }
}
