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
    /// <summary>Texts that end the completion; the text returned stops before the first one found.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>
    /// How tokens are picked: temperature (0: greedy; at most 2 here), top-p, top-k, the request's own seed
    /// (same tokens alone or batched) and the repetition controls (its MaxNewTokens is set per model: the
    /// longest piece of a sentence-level model).
    /// </summary>
    public Inference.GenerationOptions Sampling { get; init; } = new();

    /// <summary>The request's sampling as an engine row's options (<paramref name="pieceTokens"/>: the longest piece, for a sentence-level model).</summary>
    internal Inference.GenerationOptions RowSampling(int pieceTokens = 64) => Sampling with { MaxNewTokens = pieceTokens, StopAtEos = true };

    private const double MinRepetitionPenalty = Inference.GenerationOptions.MinRepetitionPenalty;

    /// <summary>Checks the ranges; throws <see cref="ServingException"/> naming the field as OpenAI's API does.</summary>
    public void Validate()
    {
        if (MaxTokens is <= 0) throw ServingException.Invalid($"max_tokens must be at least 1 (got {MaxTokens})", "max_tokens");
        var o = Sampling;
        if (double.IsNaN(o.Temperature) || o.Temperature is < 0 or > 2) throw ServingException.Invalid($"temperature must be in [0, 2] (got {o.Temperature})", "temperature");
        if (double.IsNaN(o.TopP) || o.TopP is <= 0 or > 1) throw ServingException.Invalid($"top_p must be in (0, 1] (got {o.TopP})", "top_p");
        if (o.TopK < 0) throw ServingException.Invalid($"top_k must be ≥ 0 (got {o.TopK})", "top_k");
        if (Stop.Count > 4 || Stop.Any(string.IsNullOrEmpty)) throw ServingException.Invalid("stop takes at most 4 non-empty strings", "stop");
        if (double.IsNaN(o.FrequencyPenalty) || o.FrequencyPenalty is < -2 or > 2) throw ServingException.Invalid($"frequency_penalty must be in [-2, 2] (got {o.FrequencyPenalty})", "frequency_penalty");
        if (double.IsNaN(o.PresencePenalty) || o.PresencePenalty is < -2 or > 2) throw ServingException.Invalid($"presence_penalty must be in [-2, 2] (got {o.PresencePenalty})", "presence_penalty");
        if (double.IsNaN(o.RepetitionPenalty) || o.RepetitionPenalty is < MinRepetitionPenalty or > 10)
            throw ServingException.Invalid($"repetition_penalty must be in [{MinRepetitionPenalty}, 10] (got {o.RepetitionPenalty}; 1 is off)", "repetition_penalty");
        if (o.NoRepeatNgramSize is < 0 or > 64) throw ServingException.Invalid($"no_repeat_ngram_size must be in [0, 64] (got {o.NoRepeatNgramSize})", "no_repeat_ngram_size");
        if (o.NoRepeatPieces is < 0 or > 64) throw ServingException.Invalid($"no_repeat_pieces must be in [0, 64] (got {o.NoRepeatPieces})", "no_repeat_pieces");
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
