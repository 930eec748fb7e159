using Microsoft.Extensions.AI;

namespace SentenceVae.Serving;

/// <summary>
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> from a sentence-level model's Sentence Encoder: each
/// input is cut into pieces as the model reads text, and its embedding is the mean of the pieces'
/// sentence vectors weighted by their token counts (one piece: its sentence vector). Safe for concurrent calls.
/// </summary>
public sealed class SentenceEmbeddingGenerator(GenerationService service, string model) : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly EmbeddingGeneratorMetadata metadata = new("SentenceVae", null, model);

    /// <inheritdoc/>
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        string name = options?.ModelId ?? model;
        var result = await service.EmbedAsync(name, values.ToList(), cancellationToken);
        var created = DateTimeOffset.UtcNow;
        return new GeneratedEmbeddings<Embedding<float>>(result.Vectors.Select(v => new Embedding<float>(v) { ModelId = name, CreatedAt = created }))
        {
            Usage = new UsageDetails { InputTokenCount = result.PromptTokens, TotalTokenCount = result.PromptTokens },
        };
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null : serviceType == typeof(EmbeddingGeneratorMetadata) ? metadata : serviceType.IsInstanceOfType(this) ? this : null;

    /// <summary>Nothing to free: the service owns the models.</summary>
    public void Dispose() { }
}
