namespace SentenceVae.Serving;

/// <summary>
/// One text completion for the <see cref="GenerationService"/>. <see cref="MaxTokens"/> counts text tokens
/// for both model kinds (a sentence-level model's last piece is cut to fit); the sampling options are
/// those of <see cref="Inference.GenerationOptions"/>.
/// </summary>
public sealed record CompletionRequest
{
    /// <summary>The served model's name (see <see cref="ServedModel.Name"/>).</summary>
    public required string Model { get; init; }
    /// <summary>The text to continue.</summary>
    public required string Prompt { get; init; }
    /// <summary>Most text tokens to write; null: <see cref="GenerationServiceOptions.DefaultMaxTokens"/> (within the room the prompt leaves).</summary>
    public int? MaxTokens { get; init; }
    /// <summary>0: greedy; above 0: sample at this temperature (at most 2).</summary>
    public double Temperature { get; init; }
    /// <summary>Nucleus sampling mass in (0, 1].</summary>
    public double TopP { get; init; } = 1;
    /// <summary>0: no top-k filter.</summary>
    public int TopK { get; init; }
    /// <summary>Seed of this request's own random generator (same tokens alone or batched).</summary>
    public long? Seed { get; init; }
    /// <summary>Texts that end the completion; the text returned stops before the first one found.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Checks the ranges; throws <see cref="ServingException"/> naming the field as OpenAI's API does.</summary>
    public void Validate()
    {
        if (MaxTokens is <= 0) throw ServingException.Invalid($"max_tokens must be at least 1 (got {MaxTokens})", "max_tokens");
        if (double.IsNaN(Temperature) || Temperature is < 0 or > 2) throw ServingException.Invalid($"temperature must be in [0, 2] (got {Temperature})", "temperature");
        if (double.IsNaN(TopP) || TopP is <= 0 or > 1) throw ServingException.Invalid($"top_p must be in (0, 1] (got {TopP})", "top_p");
        if (TopK < 0) throw ServingException.Invalid($"top_k must be ≥ 0 (got {TopK})", "top_k");
        if (Stop.Count > 4 || Stop.Any(string.IsNullOrEmpty)) throw ServingException.Invalid("stop takes at most 4 non-empty strings", "stop");
    }
}

/// <summary>Text written by one step: a whole piece (sentence-level model) or one token, and how many text tokens it holds.</summary>
public readonly record struct CompletionUpdate(string Text, int Tokens);

/// <summary>Why a completion ended.</summary>
public enum FinishReason
{
    /// <summary>The model ended it (EOS / stop head) or a stop sequence was found.</summary>
    Stop,
    /// <summary>max_tokens or the model's positions ran out.</summary>
    Length,
}

/// <summary>Tokens read and written by one request.</summary>
public sealed record CompletionUsage(int PromptTokens, int CompletionTokens)
{
    /// <summary>Both together.</summary>
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>A finished completion.</summary>
public sealed record CompletionResult(string Text, FinishReason FinishReason, CompletionUsage Usage);

/// <summary>Sentence vectors of several inputs, and the tokens read.</summary>
public sealed record EmbeddingResult(IReadOnlyList<float[]> Vectors, int PromptTokens);
