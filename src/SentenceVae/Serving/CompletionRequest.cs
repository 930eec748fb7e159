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
    /// <summary>OpenAI's frequency_penalty in [−2, 2] (see <see cref="Inference.GenerationOptions.FrequencyPenalty"/>).</summary>
    public double FrequencyPenalty { get; init; }
    /// <summary>OpenAI's presence_penalty in [−2, 2].</summary>
    public double PresencePenalty { get; init; }
    /// <summary>Hugging Face's repetition_penalty (&gt; 0; 1: off).</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>Hugging Face's no_repeat_ngram_size (0: off).</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary>Sentence-level models: refuse a piece identical to one of the last N (0: off).</summary>
    public int NoRepeatPieces { get; init; }

    /// <summary>The request's sampling and repetition controls as an engine row's options (<paramref name="pieceTokens"/>: the longest piece, for a sentence-level model).</summary>
    public Inference.GenerationOptions Sampling(int pieceTokens = 64) => new()
    {
        MaxNewTokens = pieceTokens, Temperature = Temperature, TopP = TopP, TopK = TopK, Seed = Seed,
        FrequencyPenalty = FrequencyPenalty, PresencePenalty = PresencePenalty, RepetitionPenalty = RepetitionPenalty,
        NoRepeatNgramSize = NoRepeatNgramSize, NoRepeatPieces = NoRepeatPieces,
    };

    private const double MinRepetitionPenalty = Inference.GenerationOptions.MinRepetitionPenalty;

    /// <summary>Checks the ranges; throws <see cref="ServingException"/> naming the field as OpenAI's API does.</summary>
    public void Validate()
    {
        if (MaxTokens is <= 0) throw ServingException.Invalid($"max_tokens must be at least 1 (got {MaxTokens})", "max_tokens");
        if (double.IsNaN(Temperature) || Temperature is < 0 or > 2) throw ServingException.Invalid($"temperature must be in [0, 2] (got {Temperature})", "temperature");
        if (double.IsNaN(TopP) || TopP is <= 0 or > 1) throw ServingException.Invalid($"top_p must be in (0, 1] (got {TopP})", "top_p");
        if (TopK < 0) throw ServingException.Invalid($"top_k must be ≥ 0 (got {TopK})", "top_k");
        if (Stop.Count > 4 || Stop.Any(string.IsNullOrEmpty)) throw ServingException.Invalid("stop takes at most 4 non-empty strings", "stop");
        if (double.IsNaN(FrequencyPenalty) || FrequencyPenalty is < -2 or > 2) throw ServingException.Invalid($"frequency_penalty must be in [-2, 2] (got {FrequencyPenalty})", "frequency_penalty");
        if (double.IsNaN(PresencePenalty) || PresencePenalty is < -2 or > 2) throw ServingException.Invalid($"presence_penalty must be in [-2, 2] (got {PresencePenalty})", "presence_penalty");
        if (double.IsNaN(RepetitionPenalty) || RepetitionPenalty is < MinRepetitionPenalty or > 10)
            throw ServingException.Invalid($"repetition_penalty must be in [{MinRepetitionPenalty}, 10] (got {RepetitionPenalty}; 1 is off)", "repetition_penalty");
        if (NoRepeatNgramSize is < 0 or > 64) throw ServingException.Invalid($"no_repeat_ngram_size must be in [0, 64] (got {NoRepeatNgramSize})", "no_repeat_ngram_size");
        if (NoRepeatPieces is < 0 or > 64) throw ServingException.Invalid($"no_repeat_pieces must be in [0, 64] (got {NoRepeatPieces})", "no_repeat_pieces");
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
