using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using SentenceVae.Server;
using SentenceVae.Serving;

namespace SentenceVae.Tests.Serving;

/// <summary>The server as the official OpenAI .NET client (2.15.0) and plain HTTP see it.</summary>
[Collection(ServerCollection.Name)]
public class OpenAiClientTests(ServerFixture server)
{
    private OpenAIClient Client => new(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Server.Address, "v1/") });

    [Fact]
    public async Task TheModelsListNamesBothServedModels()
    {
        var models = (await Client.GetOpenAIModelClient().GetModelsAsync()).Value;
        Assert.Equal([ServerFixture.Sllm, ServerFixture.Lm], models.Select(m => m.Id));
        Assert.Equal(ServerFixture.Lm, (await Client.GetOpenAIModelClient().GetModelAsync(ServerFixture.Lm)).Value.Id);
    }

    [Fact]
    public async Task FieldsARequestLeavesOutTakeTheModelsOwnDefaultsAndExplicitOnesWin()
    {
        var chat = Client.GetChatClient(ServerFixture.Sllm);
        ChatMessage[] prompt = [new UserChatMessage("Emma smiled.")];
        string Text(ChatCompletion c) => c.Content[0].Text;
        // Left out: the model's generation_config.json (temperature 0.8, top_p 0.95, repetition_penalty 1.1, no_repeat_pieces 8).
#pragma warning disable OPENAI001 // Seed: marked for evaluation in the OpenAI client
        var byDefault = Text((await chat.CompleteChatAsync(prompt, new ChatCompletionOptions { Seed = 7, MaxOutputTokenCount = 24 })).Value);
#pragma warning restore OPENAI001
        using var spelled = await server.Http.PostAsync("v1/chat/completions", new StringContent($$"""
            {"model":"{{ServerFixture.Sllm}}","messages":[{"role":"user","content":"Emma smiled."}],"seed":7,"max_tokens":24,
             "temperature":0.8,"top_p":0.95,"repetition_penalty":1.1,"no_repeat_pieces":8}
            """, Encoding.UTF8, "application/json"));
        using var json = JsonDocument.Parse(await spelled.Content.ReadAsStringAsync());
        Assert.Equal(json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), byDefault);
        // Explicit fields win: temperature 0 is greedy, whatever the model's default.
        var greedy = Text((await chat.CompleteChatAsync(prompt, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 })).Value);
        var direct = await server.Service.CompleteAsync(new CompletionRequest { Model = ServerFixture.Sllm, Prompt = SentenceVae.Serving.ChatPrompt.Format([new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.User, "Emma smiled.")]), MaxTokens = 24, Sampling = new() { RepetitionPenalty = 1.1, NoRepeatPieces = 8 } });
        Assert.Equal(direct.Text, greedy);
        // /v1/models shows them.
        using var models = JsonDocument.Parse(await server.Http.GetStringAsync("v1/models"));
        var defaults = models.RootElement.GetProperty("data")[0].GetProperty("generation_defaults");
        Assert.Equal(0.8, defaults.GetProperty("temperature").GetDouble());
        Assert.Equal(8, defaults.GetProperty("no_repeat_pieces").GetInt32());
    }

    [Theory]
    [InlineData(ServerFixture.Sllm)]
    [InlineData(ServerFixture.Lm)]
    public async Task ChatAnswersAndStreamsTheSameText(string model)
    {
        var chat = Client.GetChatClient(model);
        ChatMessage[] messages = [new SystemChatMessage("A novel."), new UserChatMessage("Who is Mr. Knightley?")];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 30, Temperature = 0 };
        var completion = (await chat.CompleteChatAsync(messages, options)).Value;
        string text = completion.Content[0].Text;
        Assert.NotEmpty(text);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(30, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 5);

        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var u in chat.CompleteChatStreamingAsync(messages, options)) updates.Add(u);
        var pieces = updates.SelectMany(u => u.ContentUpdate).Select(p => p.Text).Where(t => t.Length > 0).ToList();
        Assert.Equal(text, string.Concat(pieces));
        Assert.True(pieces.Count >= 2, $"{pieces.Count} events");
        if (model == ServerFixture.Lm) Assert.Equal(30, pieces.Count);                 // one event per token (no multi-byte splits here)
        else Assert.True(pieces.Count < 30, $"{pieces.Count} events for 30 tokens: one per piece");
        Assert.Equal(ChatFinishReason.Length, updates.Last(u => u.FinishReason is not null).FinishReason);
        Assert.Equal(30, updates.Last(u => u.Usage is not null).Usage.OutputTokenCount);
    }

    [Theory]
    [InlineData(ServerFixture.Lm)]
    [InlineData(ServerFixture.Sllm)]
    public async Task ATinyTemperatureAmongGreedyRequestsOverHttpHurtsNoOneAndIsGreedy(string model)
    {
        // The probe's first row: temperature 1e-40 sent while greedy requests batch with it used to 500 every row.
        var prompts = ServerFixture.Prompts(4);
        async Task<string> Text(string prompt, double temperature)
        {
            using var response = await Post("v1/completions", JsonSerializer.Serialize(new { model, prompt, max_tokens = 12, temperature }));
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, body);
            return JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
        }
        var alone = new List<string>();
        foreach (var p in prompts) alone.Add(await Text(p, 0));
        var together = await Task.WhenAll(prompts.Select(p => Text(p, 0)).Append(Text(prompts[0], 1e-40)));
        Assert.Equal([.. alone, alone[0]], together);

        // The same through the OpenAI client's chat API: greedy requests and one at temperature 1e-40, at once.
        var chat = Client.GetChatClient(model);
        async Task<string> Chat(string prompt, float temperature) =>
            (await chat.CompleteChatAsync([new UserChatMessage(prompt)], new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = temperature })).Value.Content[0].Text;
        var chatAlone = new List<string>();
        foreach (var p in prompts) chatAlone.Add(await Chat(p, 0));
        var chatTogether = await Task.WhenAll(prompts.Select(p => Chat(p, 0)).Append(Chat(prompts[0], 1e-40f)));
        Assert.Equal([.. chatAlone, chatAlone[0]], chatTogether);
    }

    [Fact]
    public async Task CompletionsAnswerAndStream()
    {
        // The package's completions client is internal in 2.15.0: the request goes through its public pipeline.
        var pipeline = Client.GetChatClient(ServerFixture.Sllm).Pipeline;
        using var message = pipeline.CreateMessage();
        message.Request.Method = "POST";
        message.Request.Uri = new Uri(server.Server.Address, "v1/completions");
        message.Request.Headers.Set("Content-Type", "application/json");
        message.Request.Content = BinaryContent.Create(BinaryData.FromObjectAsJson(new { model = ServerFixture.Sllm, prompt = "Emma Woodhouse, handsome, clever, and rich,", max_tokens = 24, temperature = 0 }));
        await pipeline.SendAsync(message);
        Assert.Equal(200, message.Response!.Status);
        using var json = JsonDocument.Parse(message.Response.Content);
        var choice = json.RootElement.GetProperty("choices")[0];
        Assert.Equal("text_completion", json.RootElement.GetProperty("object").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(24, json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        var streamed = await LoadRun.StreamAsync(server.Http, ServerFixture.Sllm, "Emma Woodhouse, handsome, clever, and rich,", 24);
        Assert.Null(streamed.Error);
        Assert.True(streamed.SawDone);
        Assert.Equal(choice.GetProperty("text").GetString(), streamed.Text);
        Assert.Equal("length", streamed.FinishReason);
        Assert.Equal(24, streamed.Tokens);
        Assert.True(streamed.Events >= 2);
    }

    [Fact]
    public async Task EmbeddingsComeFromTheSentenceEncoder()
    {
        string[] inputs = ["Emma was handsome.", "Mr. Knightley walked in. He sat down."];
        var embeddings = (await Client.GetEmbeddingClient(ServerFixture.Sllm).GenerateEmbeddingsAsync(inputs)).Value;    // base64 on the wire
        var direct = await server.Service.EmbedAsync(ServerFixture.Sllm, inputs);
        Assert.Equal(2, embeddings.Count);
        for (int i = 0; i < 2; i++) Assert.Equal(direct.Vectors[i], embeddings[i].ToFloats().ToArray());
        Assert.Equal(direct.PromptTokens, embeddings.Usage.InputTokenCount);

        using var floats = await Post("v1/embeddings", $$"""{"model":"{{ServerFixture.Sllm}}","input":"Emma was handsome."}""");
        using var json = JsonDocument.Parse(await floats.Content.ReadAsStringAsync());
        Assert.Equal(direct.Vectors[0], json.RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray());
    }

    [Fact]
    public async Task TheClientSeesAnUnknownModelAs404()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client.GetChatClient("nope").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e.Status);
        Assert.Contains("nope", e.Message);
    }

    public static TheoryData<string, string, int, string?, string> BadRequests => new()
    {
        { "v1/completions", "{\"model\":", 400, null, "not valid JSON" },
        { "v1/completions", "[1,2]", 400, null, "JSON object" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":7}", 400, "prompt", "string" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"max_tokens\":\"many\"}", 400, "max_tokens", "integer" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"temperature\":true}", 400, "temperature", "number" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"stream\":\"yes\"}", 400, "stream", "true or false" },
        { "v1/completions", "{\"prompt\":\"x\"}", 400, "model", "required" },
        { "v1/completions", "{\"model\":\"nope\",\"prompt\":\"x\"}", 404, "model", "does not exist" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"max_tokens\":0}", 400, "max_tokens", "at least 1" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"max_tokens\":-3}", 400, "max_tokens", "at least 1" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"max_tokens\":2000}", 400, "max_tokens", "1024 positions" },
        { "v1/completions", "{\"model\":\"sllm-256-e2e\",\"prompt\":\"x\",\"max_tokens\":2147483647}", 400, "max_tokens", "this server's limit" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"temperature\":2.5}", 400, "temperature", "[0, 2]" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"top_p\":0}", 400, "top_p", "(0, 1]" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"top_p\":1.5}", 400, "top_p", "(0, 1]" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"n\":2}", 400, "n", "must be 1" },
        { "v1/chat/completions", "{\"model\":\"lm-256\",\"messages\":\"hi\"}", 400, "messages", "array" },
        { "v1/chat/completions", "{\"model\":\"lm-256\",\"messages\":[{\"content\":\"hi\"}]}", 400, "messages[0].role", "required" },
        { "v1/chat/completions", "{\"model\":\"lm-256\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 400, "messages[0].content", "text parts" },
        { "v1/embeddings", "{\"model\":\"lm-256\",\"input\":\"x\"}", 400, "model", "no Sentence Encoder" },
        { "v1/embeddings", "{\"model\":\"sllm-256-e2e\",\"input\":[1,2]}", 400, "input", "string" },
        { "v1/embeddings", "{\"model\":\"sllm-256-e2e\",\"input\":\"x\",\"encoding_format\":\"hex\"}", 400, "encoding_format", "float or base64" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"\\ud800\"}", 400, "prompt", "lone UTF-16 surrogate" },
        { "v1/completions", "{\"model\":\"lm-256\",\"prompt\":\"x\",\"stop\":[\"a\",\"\\udc00\"]}", 400, "stop[1]", "lone UTF-16 surrogate" },
        { "v1/chat/completions", "{\"model\":\"lm-256\",\"messages\":[{\"role\":\"\",\"content\":\"hi\"}]}", 400, "messages[0].role", "must be one of" },
        { "v1/chat/completions", "{\"model\":\"lm-256\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800x\"}]}", 400, "messages[0].content", "lone UTF-16 surrogate" },
        { "v1/embeddings", "{\"model\":\"sllm-256-e2e\",\"input\":[\"ok\",\"\\udfff\"]}", 400, "input[1]", "lone UTF-16 surrogate" },
    };

    [Theory]
    [InlineData("GET", "v1/completions", 405)]
    [InlineData("PUT", "v1/embeddings", 405)]
    [InlineData("GET", "v2/models", 404)]
    [InlineData("POST", "nothing/here", 404)]
    public async Task RouteLevelErrorsHaveTheOpenAiErrorBody(string method, string path, int status)
    {
        using var response = await server.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "GET" ? null : new StringContent("{}") });
        Assert.Equal(status, (int)response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains(path, json.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", json.RootElement.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public void AServerFaultIsAGeneric500WithTheRequestIdAndNoInternals()
    {
        var fault = new InvalidOperationException("Cannot read /home/someone/.nuget/packages/x at 0x7f3a (C++ frame)");
        var (status, body) = SentenceVae.Server.SentenceVaeServer.ErrorFor(fault, "req-42", 1 << 20);
        Assert.Equal(500, status);
        string text = JsonSerializer.Serialize(body);
        Assert.Contains("req-42", text);
        foreach (var leak in new[] { "InvalidOperationException", "/home", "0x7f3a", "frame", "Exception" }) Assert.DoesNotContain(leak, text);
    }

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task EveryBadRequestGetsAnOpenAiErrorWithItsStatus(string path, string body, int status, string? param, string message)
    {
        using var response = await Post(path, body);
        Assert.Equal(status, (int)response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = json.RootElement.GetProperty("error");
        Assert.Contains(message, error.GetProperty("message").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.True(error.TryGetProperty("code", out _));
        using var health = await server.Http.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);                  // nothing took the server down
    }

    [Theory]
    [InlineData(ServerFixture.Lm, 3000)]
    [InlineData(ServerFixture.Sllm, 3000)]
    public async Task APromptLongerThanThePositionsIs400NamingBothNumbers(string model, int sentences)
    {
        string prompt = string.Concat(Enumerable.Repeat("Yes. ", sentences));
        using var response = await Post("v1/completions", JsonSerializer.Serialize(new { model, prompt, stream = true }));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        string message = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains("1024 positions", message);
        Assert.Matches(model == ServerFixture.Lm ? "\\d{4} tokens" : "3000 pieces", message);
    }

    [Fact]
    public async Task AnOversizedBodyIs413()
    {
        // Expect: 100-continue lets the server refuse by Content-Length before the client sends the body, so the
        // client always reads the 413 (without it, the server may close while 2 MB are still on their way).
        var body = "{\"model\":\"lm-256\",\"prompt\":\"" + new string('a', 2 << 20) + "\"}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request_too_large", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task AClientThatDisconnectsCancelsItsRow()
    {
        int cancelledBefore = server.Service.Statistics.Cancelled;
        // A client that closes its connection at once: .NET's handler would otherwise drain up to 1 MB of the
        // rest of the response for 2 s to reuse the connection, and a fast model finishes within that.
        using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, ResponseDrainTimeout = TimeSpan.Zero }) { BaseAddress = server.Http.BaseAddress };
        using (var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
               { Content = new StringContent($$"""{"model":"{{ServerFixture.Lm}}","prompt":"Emma","max_tokens":1000,"temperature":0,"stream":true}""", Encoding.UTF8, "application/json") })
        using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync());
        }                                                                        // the connection closes mid-stream
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (server.Service.Statistics.Cancelled == cancelledBefore && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(cancelledBefore + 1, server.Service.Statistics.Cancelled);
    }

    [Fact]
    public async Task HealthIs503WhileLoadingThen200()
    {
        var hold = new TaskCompletionSource();
        await using var fresh = SentenceVaeServer.Create(new ServerOptions { Models = ServerFixture.ModelDirs, Port = 0, LoadAfter = hold.Task });
        await fresh.StartAsync();
        using var http = new HttpClient { BaseAddress = fresh.Address };
        var first = await http.GetAsync("health");
        var models = await http.GetAsync("v1/models");
        hold.SetResult();
        await fresh.Loaded;
        var after = await http.GetAsync("health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, first.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, models.StatusCode);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    private Task<HttpResponseMessage> Post(string path, string body) =>
        server.Http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
}
