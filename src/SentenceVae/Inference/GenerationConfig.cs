using System.Text.Json.Serialization;

namespace SentenceVae.Inference;

/// <summary>
/// A model's own generation defaults: <c>generation_config.json</c> in its directory, as Hugging Face and
/// vLLM read it (<c>temperature</c>, <c>top_p</c>, <c>top_k</c>, <c>repetition_penalty</c>,
/// <c>no_repeat_ngram_size</c>, <c>max_new_tokens</c>) with this project's <c>no_repeat_pieces</c>,
/// <c>frequency_penalty</c> and <c>presence_penalty</c>. The server, the chat client and the CLI apply
/// them to what a request leaves out; a request's explicit fields always win.
/// </summary>
public sealed record GenerationConfig
{
    /// <summary>The file's name in a model directory.</summary>
    public const string FileName = "generation_config.json";

    /// <summary>Sampling temperature (0: greedy).</summary>
    [JsonPropertyName("temperature")] public double? Temperature { get; init; }
    /// <summary>Nucleus sampling mass.</summary>
    [JsonPropertyName("top_p")] public double? TopP { get; init; }
    /// <summary>Sample among the k most likely tokens (0: all).</summary>
    [JsonPropertyName("top_k")] public int? TopK { get; init; }
    /// <summary>Hugging Face's repetition_penalty (1: off).</summary>
    [JsonPropertyName("repetition_penalty")] public double? RepetitionPenalty { get; init; }
    /// <summary>OpenAI's frequency_penalty.</summary>
    [JsonPropertyName("frequency_penalty")] public double? FrequencyPenalty { get; init; }
    /// <summary>OpenAI's presence_penalty.</summary>
    [JsonPropertyName("presence_penalty")] public double? PresencePenalty { get; init; }
    /// <summary>Hugging Face's no_repeat_ngram_size (0: off).</summary>
    [JsonPropertyName("no_repeat_ngram_size")] public int? NoRepeatNgramSize { get; init; }
    /// <summary>Sentence-level models: refuse a piece identical to one of the last N (0: off).</summary>
    [JsonPropertyName("no_repeat_pieces")] public int? NoRepeatPieces { get; init; }
    /// <summary>Hugging Face's <c>do_sample</c>: false means greedy whatever the temperature.</summary>
    [JsonPropertyName("do_sample")] public bool? DoSample { get; init; }
    /// <summary>Text tokens a completion writes when it names no max_tokens.</summary>
    [JsonPropertyName("max_new_tokens")] public int? MaxNewTokens { get; init; }

    /// <summary>The defaults text a person reads is written with (<see cref="GenerationOptions.Reading"/>), as a file's content.</summary>
    public static GenerationConfig Reading(bool pieces) => new()
    {
        DoSample = true, Temperature = GenerationOptions.Reading.Temperature, TopP = GenerationOptions.Reading.TopP,
        RepetitionPenalty = GenerationOptions.Reading.RepetitionPenalty, NoRepeatPieces = pieces ? GenerationOptions.Reading.NoRepeatPieces : null,
    };

    /// <summary>
    /// Sampling options from these defaults, each value the file leaves out at the plain default — but the
    /// temperature, which is <paramref name="temperature"/> when the file gives none (the API's default).
    /// A request's explicit fields then go over these (<c>with</c>).
    /// </summary>
    public static GenerationOptions Options(GenerationConfig? defaults, double temperature) => new()
    {
        Temperature = defaults?.SampledTemperature ?? temperature, TopP = defaults?.TopP ?? 1.0, TopK = defaults?.TopK ?? 0,
        RepetitionPenalty = defaults?.RepetitionPenalty ?? 1.0, FrequencyPenalty = defaults?.FrequencyPenalty ?? 0, PresencePenalty = defaults?.PresencePenalty ?? 0,
        NoRepeatNgramSize = defaults?.NoRepeatNgramSize ?? 0, NoRepeatPieces = defaults?.NoRepeatPieces ?? 0,
    };

    /// <summary>The temperature to use: 0 when the file says do_sample false, else its temperature.</summary>
    [JsonIgnore] public double? SampledTemperature => DoSample == false ? 0 : Temperature;

    /// <summary>The model directory's generation defaults, or null when it has none (a damaged file is one line naming it).</summary>
    public static GenerationConfig? Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        return File.Exists(path) ? JsonFile.Load<GenerationConfig>(path, c => c.Validate()) : null;
    }

    /// <summary>Writes the file into <paramref name="directory"/>.</summary>
    public void Save(string directory) => JsonFile.Save(this, Path.Combine(directory, FileName));

    /// <summary>Checks that the values are ones a request could give; throws <see cref="InvalidDataException"/> naming the key.</summary>
    public GenerationConfig Validate()
    {
        try
        {
            new GenerationOptions
            {
                Temperature = Temperature ?? 0, TopP = TopP ?? 1, TopK = TopK ?? 0, RepetitionPenalty = RepetitionPenalty ?? 1,
                FrequencyPenalty = FrequencyPenalty ?? 0, PresencePenalty = PresencePenalty ?? 0, NoRepeatNgramSize = NoRepeatNgramSize ?? 0,
                NoRepeatPieces = NoRepeatPieces ?? 0, MaxNewTokens = MaxNewTokens ?? 1,
            }.Validate();
        }
        catch (ArgumentOutOfRangeException e) { throw new InvalidDataException($"{e.ParamName}: {e.Message.Split(" (Parameter")[0]}"); }
        if (MaxNewTokens is < 1) throw new InvalidDataException($"max_new_tokens must be at least 1 (is {MaxNewTokens})");
        return this;
    }
}
