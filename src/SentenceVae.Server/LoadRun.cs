using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SentenceVae.Server;

/// <summary>One streamed completion as a client saw it; <see cref="Gaps"/>: the times between its consecutive text updates.</summary>
public sealed record StreamedCompletion(int Client, int Request, string Prompt, string Text, int Tokens, int Events, string? FinishReason,
    bool SawDone, TimeSpan TimeToFirst, TimeSpan Duration, string? Error)
{
    /// <summary>Between consecutive text updates (a token, or a sentence-level model's piece).</summary>
    public IReadOnlyList<TimeSpan> Gaps { get; init; } = [];
}

/// <summary>
/// Aggregate figures of a load run: output tokens/s over the wall
/// time; time to first piece/token; inter-token latency — each gap between two updates divided by the
/// tokens an update of that request holds on average (one for a token model, a piece's for a
/// sentence-level model); and the raw gap between updates.
/// </summary>
public sealed record LoadSummary(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("concurrency")] int Concurrency,
    [property: JsonPropertyName("requests")] int Requests,
    [property: JsonPropertyName("failed")] int Failed,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("output_tokens")] int OutputTokens,
    [property: JsonPropertyName("tokens_per_s")] double TokensPerSecond,
    [property: JsonPropertyName("ttft_p50_ms")] double FirstP50Ms,
    [property: JsonPropertyName("ttft_p95_ms")] double FirstP95Ms,
    [property: JsonPropertyName("itl_p50_ms")] double InterTokenP50Ms,
    [property: JsonPropertyName("itl_p95_ms")] double InterTokenP95Ms,
    [property: JsonPropertyName("update_gap_p95_ms")] double UpdateGapP95Ms)
{
    /// <summary>Engine row-iterations in which a running row wrote nothing (waiting on another row), over all its row-iterations.</summary>
    [JsonPropertyName("waiting_row_fraction")] public double? WaitingRowFraction { get; init; }

    /// <summary>The figures of <paramref name="runs"/> over <paramref name="wall"/>.</summary>
    public static LoadSummary Of(string model, int concurrency, IReadOnlyList<StreamedCompletion> runs, TimeSpan wall)
    {
        var ok = runs.Where(r => r.Error is null).ToList();
        var firsts = ok.Select(r => r.TimeToFirst.TotalMilliseconds).Order().ToArray();
        var perToken = ok.Where(r => r.Events > 0).SelectMany(r => r.Gaps.Select(g => g.TotalMilliseconds / Math.Max(1.0, (double)r.Tokens / r.Events))).Order().ToArray();
        var gaps = ok.SelectMany(r => r.Gaps.Select(g => g.TotalMilliseconds)).Order().ToArray();
        int tokens = runs.Sum(r => r.Tokens);
        return new LoadSummary(model, concurrency, runs.Count, runs.Count(r => r.Error is not null || !r.SawDone), wall.TotalSeconds, tokens,
            tokens / wall.TotalSeconds, Percentile(firsts, 0.5), Percentile(firsts, 0.95), Percentile(perToken, 0.5), Percentile(perToken, 0.95), Percentile(gaps, 0.95));
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
}

/// <summary>
/// Streaming clients against a running server (<c>POST /v1/completions</c> with <c>"stream": true</c>):
/// <c>concurrency</c> clients, each sending its requests one after another. Used by the load test and by
/// <c>svae serve-bench</c>.
/// </summary>
public static class LoadRun
{
    /// <summary>
    /// Runs the clients; client c's request r uses prompt (c · requests + r) mod the prompt count. Client c
    /// starts <paramref name="stagger"/> × c after the first, so requests arrive while others run.
    /// </summary>
    public static async Task<(List<StreamedCompletion> Runs, TimeSpan Wall)> RunAsync(HttpClient http, string model, IReadOnlyList<string> prompts,
        int concurrency, int requestsPerClient, int maxTokens, CancellationToken cancel = default, TimeSpan stagger = default)
    {
        var clock = Stopwatch.StartNew();
        var clients = Enumerable.Range(0, concurrency).Select(async c =>
        {
            if (stagger > TimeSpan.Zero) await Task.Delay(stagger * c, cancel);
            var mine = new List<StreamedCompletion>();
            for (int r = 0; r < requestsPerClient; r++)
                mine.Add(await StreamAsync(http, model, prompts[(c * requestsPerClient + r) % prompts.Count], maxTokens, c, r, cancel));
            return mine;
        }).ToList();
        var all = (await Task.WhenAll(clients)).SelectMany(x => x).ToList();
        return (all, clock.Elapsed);
    }

    /// <summary>One greedy streamed completion, read event by event.</summary>
    public static async Task<StreamedCompletion> StreamAsync(HttpClient http, string model, string prompt, int maxTokens, int client = 0, int request = 0,
        CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        TimeSpan first = TimeSpan.Zero, last = TimeSpan.Zero;
        var gaps = new List<TimeSpan>();
        var text = new StringBuilder();
        int tokens = 0, events = 0;
        string? finish = null;
        bool done = false;
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = JsonContent.Create(new { model, prompt, max_tokens = maxTokens, temperature = 0, stream = true, stream_options = new { include_usage = true } }),
            };
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancel);
            if (!response.IsSuccessStatusCode)
                return new(client, request, prompt, "", 0, 0, null, false, first, clock.Elapsed, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancel)}");
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel));
            while (await reader.ReadLineAsync(cancel) is string line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                string data = line[6..];
                if (data == "[DONE]") { done = true; break; }
                using var chunk = JsonDocument.Parse(data);
                if (chunk.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object) tokens = usage.GetProperty("completion_tokens").GetInt32();
                if (chunk.RootElement.GetProperty("choices").GetArrayLength() == 0) continue;         // the usage chunk
                var choice = chunk.RootElement.GetProperty("choices")[0];
                string piece = choice.GetProperty("text").GetString() ?? "";
                if (piece.Length > 0)
                {
                    var now = clock.Elapsed;
                    if (events++ == 0) first = now;
                    else gaps.Add(now - last);
                    last = now;
                }
                text.Append(piece);
                if (choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String) finish = f.GetString();
            }
            return new(client, request, prompt, text.ToString(), tokens, events, finish, done, first, clock.Elapsed, null) { Gaps = gaps };
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            return new(client, request, prompt, text.ToString(), tokens, events, finish, done, first, clock.Elapsed, e.Message);
        }
    }

    /// <summary>Prompts of about <paramref name="chars"/> characters from a text, each starting and ending at a space.</summary>
    public static List<string> Prompts(string text, int count, int chars = 300) => SentenceVae.Data.PromptSlices.Spread(text, count, chars);
}
