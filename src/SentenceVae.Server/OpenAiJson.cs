using System.Text.Json;
using Microsoft.Extensions.AI;
using SentenceVae.Serving;

namespace SentenceVae.Server;

/// <summary>
/// Reads OpenAI request bodies field by field, so that a field of the wrong type is a 400 naming it
/// (<c>param</c>), and writes OpenAI's response, chunk and error shapes.
/// </summary>
internal static class OpenAiJson
{
    public static ServingException Bad(string message, string? param) => new(ServingError.InvalidRequest, message, param, "invalid_value");

    public static JsonElement? Field(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static string? String(JsonElement body, string name) => Field(body, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => Text(v, name),
        _ => throw Bad($"{name} must be a string", name),
    };

    /// <summary>A JSON string's text; one that is not text (bytes that are not UTF-8, or a lone surrogate escape such as "\ud800") is the client's mistake, named.</summary>
    public static string Text(JsonElement value, string param)
    {
        try { return value.GetString()!; }
        catch (InvalidOperationException) { throw Bad($"{param} is not valid text: it holds bytes that are not UTF-8, or a lone UTF-16 surrogate escape", param); }
    }

    private static readonly string[] Sampling = ["model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "stop", "frequency_penalty",
        "presence_penalty", "repetition_penalty", "no_repeat_ngram_size", "no_repeat_pieces", "stream", "stream_options", "n", "logprobs", "logit_bias", "user"];

    /// <summary>The fields <c>/v1/completions</c> reads.</summary>
    public static readonly string[] CompletionFields = [.. Sampling, "prompt", "echo", "best_of", "suffix"];
    /// <summary>The fields <c>/v1/chat/completions</c> reads.</summary>
    public static readonly string[] ChatFields = [.. Sampling, "messages", "top_logprobs"];
    /// <summary>The fields <c>/v1/embeddings</c> reads.</summary>
    public static readonly string[] EmbeddingFields = ["model", "input", "encoding_format", "user"];

    /// <summary>Fields OpenAI's API has that these models cannot honour, with why; refused by name unless null.</summary>
    private static readonly Dictionary<string, string> Unsupported = new()
    {
        ["response_format"] = "these models write free text and cannot be held to a format",
        ["tools"] = "these models cannot call tools",
        ["tool_choice"] = "these models cannot call tools",
        ["parallel_tool_calls"] = "these models cannot call tools",
        ["functions"] = "these models cannot call functions",
        ["function_call"] = "these models cannot call functions",
        ["dimensions"] = "a vector has the model's own width",
    };

    /// <summary>
    /// Refuses any field the endpoint does not read (a 400 naming it, as OpenAI answers an unrecognized
    /// argument), and any it cannot honour — a misspelt <c>max_token</c> is never silently ignored.
    /// </summary>
    public static void OnlyKnown(JsonElement body, IReadOnlyCollection<string> known)
    {
        foreach (var field in body.EnumerateObject())
        {
            if (known.Contains(field.Name)) continue;
            if (Unsupported.TryGetValue(field.Name, out var why))
            {
                if (field.Value.ValueKind == JsonValueKind.Null) continue;
                throw new ServingException(ServingError.InvalidRequest, $"{field.Name} is not served by this server: {why}", field.Name, "unsupported_parameter");
            }
            string name = ServingException.Echo(field.Name);
            throw new ServingException(ServingError.InvalidRequest, $"unrecognized request argument '{name}' (this endpoint reads: {string.Join(", ", known)})", name, "unknown_parameter");
        }
    }

    /// <summary>The roles a chat message may have.</summary>
    public static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool"];

    public static double? Number(JsonElement body, string name) => Field(body, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } v => v.GetDouble(),
        _ => throw Bad($"{name} must be a number", name),
    };

    public static long? Integer(JsonElement body, string name) => Field(body, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } v when v.TryGetInt64(out long n) => n,
        { ValueKind: JsonValueKind.Number } v when v.TryGetDouble(out double d) && d == Math.Floor(d) => throw Bad($"{name} is out of range (it must fit a 64-bit signed integer)", name),
        _ => throw Bad($"{name} must be an integer", name),
    };

    public static int? Int(JsonElement body, string name) => Integer(body, name) switch
    {
        null => null,
        long n when n is >= int.MinValue and <= int.MaxValue => (int)n,
        long n => throw Bad($"{name} is out of range ({n})", name),
    };

    public static bool Bool(JsonElement body, string name) => Field(body, name) switch
    {
        null => false,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw Bad($"{name} must be true or false", name),
    };

    /// <summary>A string, or an array of strings (e.g. <c>stop</c>, embeddings' <c>input</c>).</summary>
    public static List<string> Strings(JsonElement body, string name) => Field(body, name) switch
    {
        null => [],
        { ValueKind: JsonValueKind.String } v => [Text(v, name)],
        { ValueKind: JsonValueKind.Array } a when a.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => a.EnumerateArray().Select((e, i) => Text(e, $"{name}[{i}]")).ToList(),
        _ => throw Bad($"{name} must be a string or an array of strings", name),
    };

    /// <summary>
    /// The fields both completion kinds share, mapped onto a <see cref="CompletionRequest"/>: a field left out
    /// takes the model's own default (<paramref name="defaults"/>, its generation_config.json), else OpenAI's
    /// (temperature 1, top_p 1, no penalties).
    /// </summary>
    public static CompletionRequest Completion(JsonElement body, string prompt, Func<string, SentenceVae.Inference.GenerationConfig?> defaults)
    {
        if (Int(body, "n") is int n && n != 1) throw Bad("n must be 1 (one completion per request)", "n");
        // Fields this server cannot honour are refused by name, never ignored.
        if (Field(body, "logprobs") is { ValueKind: not (JsonValueKind.Null or JsonValueKind.False) })
            throw Bad("logprobs are not served by this server (leave logprobs out, null or false)", "logprobs");
        if (Field(body, "top_logprobs") is { ValueKind: not JsonValueKind.Null }) throw Bad("top_logprobs are not served by this server", "top_logprobs");
        if (Bool(body, "echo")) throw Bad("echo is not served by this server", "echo");
        if (Int(body, "best_of") is int best && best != 1) throw Bad("best_of must be 1", "best_of");
        if (Field(body, "suffix") is { ValueKind: not JsonValueKind.Null }) throw Bad("suffix (insertion) is not served by this server", "suffix");
        switch (Field(body, "logit_bias"))
        {
            case null: break;
            case { ValueKind: JsonValueKind.Object } bias when !bias.EnumerateObject().Any(): break;
            case { ValueKind: JsonValueKind.Object }: throw Bad("logit_bias is not served by this server", "logit_bias");
            default: throw Bad("logit_bias must be an object mapping token ids to numbers", "logit_bias");
        }
        string model = String(body, "model") ?? throw Bad("model is required", "model");
        var d = defaults(model);
        var o = SentenceVae.Inference.GenerationConfig.Options(d, temperature: 1.0);     // OpenAI's default temperature is 1
        return new CompletionRequest
        {
            Model = model,
            Prompt = prompt,
            MaxTokens = Int(body, "max_completion_tokens") ?? Int(body, "max_tokens") ?? d?.MaxNewTokens,
            Stop = Strings(body, "stop"),
            Sampling = o with
            {
                Temperature = Number(body, "temperature") ?? o.Temperature,
                TopP = Number(body, "top_p") ?? o.TopP,
                TopK = Int(body, "top_k") ?? o.TopK,
                Seed = Integer(body, "seed"),
                FrequencyPenalty = Number(body, "frequency_penalty") ?? o.FrequencyPenalty,
                PresencePenalty = Number(body, "presence_penalty") ?? o.PresencePenalty,
                RepetitionPenalty = Number(body, "repetition_penalty") ?? o.RepetitionPenalty,
                NoRepeatNgramSize = Int(body, "no_repeat_ngram_size") ?? o.NoRepeatNgramSize,
                NoRepeatPieces = Int(body, "no_repeat_pieces") ?? o.NoRepeatPieces,
            },
        };
    }

    /// <summary>
    /// Whether a streamed completion ends with a usage chunk (<c>stream_options.include_usage</c>, as OpenAI
    /// documents it); <c>stream_options</c> without <c>stream</c> is refused.
    /// </summary>
    public static bool IncludeUsage(JsonElement body, bool streaming) => Field(body, "stream_options") switch
    {
        null or { ValueKind: JsonValueKind.Null } => false,
        { ValueKind: JsonValueKind.Object } o when streaming => Bool(o, "include_usage"),
        { ValueKind: JsonValueKind.Object } => throw Bad("stream_options is only allowed with stream: true", "stream_options"),
        _ => throw Bad("stream_options must be an object", "stream_options"),
    };

    /// <summary><c>prompt</c>: a string or an array holding one string.</summary>
    public static string Prompt(JsonElement body)
    {
        var prompts = Field(body, "prompt") is null ? throw Bad("prompt is required", "prompt") : Strings(body, "prompt");
        return prompts.Count == 1 ? prompts[0] : throw Bad("prompt must be one string (batches of prompts are not served; send requests in parallel)", "prompt");
    }

    /// <summary><c>messages</c>: role and content (a string or text parts) of each message.</summary>
    public static List<ChatMessage> Messages(JsonElement body)
    {
        if (Field(body, "messages") is not { ValueKind: JsonValueKind.Array } array) throw Bad("messages must be an array", "messages");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (var message in array.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (message.ValueKind != JsonValueKind.Object) throw Bad($"{at} must be an object", at);
            string role = String(message, "role") ?? throw Bad($"{at}.role is required", $"{at}.role");
            if (!Roles.Contains(role)) throw Bad($"{at}.role must be one of {string.Join(", ", Roles)} (is '{role}')", $"{at}.role");
            string text = Field(message, "content") switch
            {
                null => "",
                { ValueKind: JsonValueKind.String } s => Text(s, $"{at}.content"),
                { ValueKind: JsonValueKind.Array } parts => string.Concat(parts.EnumerateArray().Select(p =>
                    p.ValueKind == JsonValueKind.Object && String(p, "type") == "text" ? String(p, "text") ?? ""
                    : throw Bad($"{at}.content: only text parts can be read by these models", $"{at}.content"))),
                _ => throw Bad($"{at}.content must be a string or an array of text parts", $"{at}.content"),
            };
            messages.Add(new ChatMessage(new ChatRole(role), text));
        }
        return messages;
    }

    public static string FinishReason(SentenceVae.Serving.FinishReason reason) => reason == SentenceVae.Serving.FinishReason.Stop ? "stop" : "length";

    public static object Usage(CompletionUsage usage) =>
        new { prompt_tokens = usage.PromptTokens, completion_tokens = usage.CompletionTokens, total_tokens = usage.TotalTokens };

    public static object Error(string message, string type, string? param, string? code) => new { error = new { message, type, param, code } };
}
