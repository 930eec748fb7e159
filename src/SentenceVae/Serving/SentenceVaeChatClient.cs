using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SentenceVae.Serving;

/// <summary>
/// <see cref="IChatClient"/> over a model of a <see cref="GenerationService"/>: messages become text by
/// <see cref="ChatPrompt"/>; streaming yields one update per generated piece (sentence-level model) or
/// token (token model). <see cref="ChatOptions"/> map to the request: MaxOutputTokens → max_tokens (text
/// tokens), Temperature, TopP, TopK, Seed, StopSequences; ModelId picks another served model. What the options
/// leave out takes the model's own defaults (<see cref="ServedModel.Defaults"/>), else greedy decoding.
/// Safe for concurrent calls (the service batches them).
/// </summary>
public sealed class SentenceVaeChatClient(GenerationService service, string model) : IChatClient
{
    private readonly ChatClientMetadata metadata = new("SentenceVae", null, model);

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = Request(messages, options);
        var result = await service.CompleteAsync(request, cancellationToken);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text))
        {
            ModelId = request.Model, FinishReason = Finish(result.FinishReason), Usage = Usage(result.Usage),
            ResponseId = Guid.NewGuid().ToString("N"), CreatedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = Request(messages, options);
        var stream = service.Submit(request, cancellationToken);
        string id = Guid.NewGuid().ToString("N");
        await foreach (var update in stream.ReadAllAsync(cancellationToken))
            if (update.Text.Length > 0)
                yield return new ChatResponseUpdate(ChatRole.Assistant, update.Text) { ResponseId = id, ModelId = request.Model };
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage(stream.Usage))])
        {
            ResponseId = id, ModelId = request.Model, FinishReason = Finish(stream.FinishReason!.Value),
        };
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null : serviceType == typeof(ChatClientMetadata) ? metadata : serviceType.IsInstanceOfType(this) ? this : null;

    /// <summary>Nothing to free: the service owns the models.</summary>
    public void Dispose() { }

    private CompletionRequest Request(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        string name = options?.ModelId ?? model;
        var d = service.Find(name).Defaults;
        var o = Inference.GenerationConfig.Options(d, temperature: 0);
        return new()
        {
            Model = name,
            Prompt = ChatPrompt.Format(messages),
            MaxTokens = options?.MaxOutputTokens ?? d?.MaxNewTokens,
            Stop = options?.StopSequences?.ToList() ?? [],
            Sampling = o with
            {
                Temperature = options?.Temperature ?? o.Temperature,
                TopP = options?.TopP ?? o.TopP,
                TopK = options?.TopK ?? o.TopK,
                Seed = options?.Seed,
                FrequencyPenalty = options?.FrequencyPenalty ?? o.FrequencyPenalty,
                PresencePenalty = options?.PresencePenalty ?? o.PresencePenalty,
                RepetitionPenalty = Extra(options, "repetition_penalty", o.RepetitionPenalty),
                NoRepeatNgramSize = (int)Extra(options, "no_repeat_ngram_size", o.NoRepeatNgramSize),
                NoRepeatPieces = (int)Extra(options, "no_repeat_pieces", o.NoRepeatPieces),
            },
        };
    }

    // A number among ChatOptions.AdditionalProperties (the repetition controls OpenAI's API does not name), or the default.
    private static double Extra(ChatOptions? options, string key, double fallback) =>
        options?.AdditionalProperties?.TryGetValue(key, out var value) == true ? Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    internal static ChatFinishReason Finish(FinishReason reason) => reason == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length;

    private static UsageDetails Usage(CompletionUsage usage) =>
        new() { InputTokenCount = usage.PromptTokens, OutputTokenCount = usage.CompletionTokens, TotalTokenCount = usage.TotalTokens };
}
