using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SentenceVae.Server;

namespace SentenceVae.Tests.Serving;

/// <summary>Graceful shutdown ends every stream with its final chunk; stream_options and logprobs are honoured or refused, never ignored.</summary>
[Collection(ServerCollection.Name)]
public class ShutdownAndStreamOptionsTests(ServerFixture server)
{
    /// <summary>The data lines of a streamed completion.</summary>
    private static async Task<List<string>> Events(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync("v1/completions", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        return text.Split('\n').Where(l => l.StartsWith("data: ")).Select(l => l[6..]).ToList();
    }

    [Fact]
    public async Task IncludeUsageAddsAUsageChunkAndWithoutItNoChunkHasUsage()
    {
        var with = await Events(server.Http, new { model = ServerFixture.Lm, prompt = "Emma smiled.", max_tokens = 5, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        Assert.Equal("[DONE]", with[^1]);
        var chunks = with.SkipLast(1).Select(d => JsonDocument.Parse(d).RootElement).ToList();
        var last = chunks[^1];
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        Assert.Equal(5, last.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.All(chunks.SkipLast(1), c => Assert.Equal(JsonValueKind.Null, c.GetProperty("usage").ValueKind));
        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        var without = await Events(server.Http, new { model = ServerFixture.Lm, prompt = "Emma smiled.", max_tokens = 5, temperature = 0, stream = true });
        Assert.All(without.SkipLast(1), d => Assert.False(JsonDocument.Parse(d).RootElement.TryGetProperty("usage", out _)));
        Assert.Equal(with.Count - 1, without.Count);
    }

    [Theory]
    [InlineData("v1/completions", "stream_options", """{"model":"lm-256","prompt":"a","stream_options":{"include_usage":true}}""")]
    [InlineData("v1/completions", "logprobs", """{"model":"lm-256","prompt":"a","logprobs":2}""")]
    [InlineData("v1/chat/completions", "logprobs", """{"model":"lm-256","messages":[{"role":"user","content":"a"}],"logprobs":true}""")]
    [InlineData("v1/chat/completions", "top_logprobs", """{"model":"lm-256","messages":[{"role":"user","content":"a"}],"top_logprobs":3}""")]
    [InlineData("v1/completions", "echo", """{"model":"lm-256","prompt":"a","echo":true}""")]
    [InlineData("v1/completions", "logit_bias", """{"model":"lm-256","prompt":"a","logit_bias":{"50":-100}}""")]
    public async Task AFieldThisServerCannotHonourIsRefusedByName(string path, string field, string body)
    {
        using var response = await server.Http.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(field, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task LogprobsLeftOffOrFalseAreFine()
    {
        using var response = await server.Http.PostAsJsonAsync("v1/chat/completions", new { model = ServerFixture.Lm, messages = new[] { new { role = "user", content = "a" } }, logprobs = false, max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task StoppingTheServerDuringSixteenStreamsEndsEachWithItsFinalChunk()
    {
        await using var own = SentenceVaeServer.Create(new ServerOptions { Models = ServerFixture.ModelDirs, Port = 0, ShutdownTimeout = TimeSpan.FromSeconds(0.5) });
        await own.StartAsync();
        await own.Loaded;
        using var http = new HttpClient { BaseAddress = own.Address, Timeout = TimeSpan.FromMinutes(2) };
        var prompts = ServerFixture.Prompts(16);
        var started = new CountdownEvent(16);
        var streams = prompts.Select((p, i) => Task.Run(() => Stream(http, i % 2 == 0 ? ServerFixture.Lm : ServerFixture.Sllm, p, started))).ToList();
        Assert.True(started.Wait(TimeSpan.FromMinutes(1)), "every stream began");
        var stopping = own.DisposeAsync().AsTask();                              // what SIGTERM does: stop taking requests, drain, stop
        var ends = await Task.WhenAll(streams);
        await stopping;
        Assert.All(ends, e =>
        {
            Assert.Null(e.Error);
            Assert.True(e.SawDone, "the stream ended with data: [DONE]");
            Assert.Equal("length", e.FinishReason);                                // ended by the drain's timeout, with what it had written
        });
    }

    // A long greedy stream; signals once its first text arrives; returns how it ended.
    private static async Task<(string? FinishReason, bool SawDone, string? Error)> Stream(HttpClient http, string model, string prompt, CountdownEvent started)
    {
        string? finish = null;
        bool done = false, signalled = false;
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = JsonContent.Create(new { model, prompt, max_tokens = 700, temperature = 0, stream = true }),
            };
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is string line)
            {
                if (!line.StartsWith("data: ")) continue;
                if (line == "data: [DONE]") { done = true; break; }
                var choice = JsonDocument.Parse(line[6..]).RootElement.GetProperty("choices")[0];
                if (!signalled) { started.Signal(); signalled = true; }
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finish = choice.GetProperty("finish_reason").GetString();
            }
            return (finish, done, null);
        }
        catch (Exception e) { return (finish, done, e.Message); }
        finally { if (!signalled) started.Signal(); }
    }

    private const int SigTerm = 15;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [Fact]
    public async Task SigtermToSvaeServeEndsEveryStreamWithItsFinalChunk()
    {
        if (!OperatingSystem.IsLinux()) return;                                  // SIGTERM is what Linux service managers send
        string svae = Path.Combine(AppContext.BaseDirectory, "svae.dll");
        var start = new ProcessStartInfo("dotnet", [svae, "serve", "--model", ServerFixture.ModelDirs[1], "--port", "0", "--shutdown-timeout", "1"])
        {
            RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = TestPaths.RepoRoot,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        Uri? address = null;
        var errors = new List<string>();
        while (await process.StandardError.ReadLineAsync() is string line)
        {
            errors.Add(line);
            if (line.StartsWith("svae: ready")) break;
            if (line.StartsWith("svae: listening on ")) address = new Uri(line["svae: listening on ".Length..].Split(' ')[0]);
        }
        var rest = process.StandardError.ReadToEndAsync();
        Assert.True(address is not null, string.Join("\n", errors));
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
        var started = new CountdownEvent(16);
        var streams = ServerFixture.Prompts(16).Select(p => Task.Run(() => Stream(http, ServerFixture.Lm, p, started))).ToList();
        Assert.True(started.Wait(TimeSpan.FromMinutes(1)), "every stream began");
        Assert.Equal(0, Kill(process.Id, SigTerm));                             // what a service manager sends
        var ends = await Task.WhenAll(streams);
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "svae serve exits after SIGTERM");
        Assert.Equal(0, process.ExitCode);
        Assert.All(ends, e =>
        {
            Assert.Null(e.Error);
            Assert.True(e.SawDone, "the stream ended with data: [DONE]");
            Assert.Equal("length", e.FinishReason);
        });
        Assert.Contains("shutting down", await rest + await stdout);
    }
}
