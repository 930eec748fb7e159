using System.CommandLine;
using SentenceVae.Inference;

namespace SentenceVae.Cli.Commands;

/// <summary>
/// The sampling flags every generating command shares, with the API's names and meanings: --max-tokens
/// counts text tokens in all (a sentence-level model's pieces too), a flag not given takes the model's
/// own default (its generation_config.json), else <see cref="GenerationOptions.Reading"/>, and --greedy
/// is what tests and benchmarks use.
/// </summary>
internal sealed class SamplingFlags
{
    private static readonly GenerationOptions Reading = GenerationOptions.Reading;

    public Option<int> MaxTokens { get; } = new("--max-tokens") { Description = "text tokens to write in all (as the API's max_tokens)", DefaultValueFactory = _ => 64 };
    public Option<double> Temperature { get; } = new("--temperature") { Description = $"0: greedy; above 0: sample at this temperature (default {Reading.Temperature})", DefaultValueFactory = _ => Reading.Temperature };
    public Option<double> TopP { get; } = new("--top-p") { Description = $"nucleus sampling threshold (1: off; default {Reading.TopP})", DefaultValueFactory = _ => Reading.TopP };
    public Option<int> TopK { get; } = new("--top-k") { Description = "sample among the k most likely tokens (0: all)" };
    public Option<long?> Seed { get; } = new("--seed") { Description = "sampling seed (the same text every run)" };
    public Option<double> RepetitionPenalty { get; } = new("--repetition-penalty") { Description = $"Hugging Face's repetition_penalty: logits of tokens already in the text ÷ this (1: off; default {Reading.RepetitionPenalty})", DefaultValueFactory = _ => Reading.RepetitionPenalty };
    public Option<double> FrequencyPenalty { get; } = new("--frequency-penalty") { Description = "OpenAI's frequency_penalty in [-2, 2]: minus this per time a token was written" };
    public Option<double> PresencePenalty { get; } = new("--presence-penalty") { Description = "OpenAI's presence_penalty in [-2, 2]: minus this for every token written" };
    public Option<int> NoRepeatNgram { get; } = new("--no-repeat-ngram") { Description = "never complete an n-gram of tokens already in the text (0: off)" };
    public Option<bool> Greedy { get; } = new("--greedy") { Description = "the most likely token every time, no repetition control (what tests and benchmarks use)" };

    /// <summary>Sentence-level models only: a piece identical to one of the last N is written again.</summary>
    public Option<int> NoRepeatPieces { get; } = new("--no-repeat-pieces") { Description = $"refuse a piece identical to one of the last N pieces (0: off; default {Reading.NoRepeatPieces})", DefaultValueFactory = _ => Reading.NoRepeatPieces };

    private bool pieces;

    public void AddTo(Command command, bool pieces)
    {
        this.pieces = pieces;
        foreach (var option in new Option[] { MaxTokens, Temperature, TopP, TopK, Seed, RepetitionPenalty, FrequencyPenalty, PresencePenalty, NoRepeatNgram, Greedy })
            command.Options.Add(option);
        if (pieces) command.Options.Add(NoRepeatPieces);
    }

    /// <summary>
    /// The options given; a flag left out takes <paramref name="model"/>'s default where it has one.
    /// <paramref name="perStep"/>: the engine's per-step limit (a token model's whole budget, a sentence-level model's longest piece).
    /// </summary>
    public GenerationOptions Read(ParseResult parse, int perStep, GenerationConfig? model = null)
    {
        T Pick<T>(Option<T> option, T? fromModel) where T : struct =>
            parse.GetResult(option) is { Implicit: false } || fromModel is null ? parse.GetValue(option) : fromModel.Value;
        var options = parse.GetValue(Greedy)
            ? new GenerationOptions { MaxNewTokens = perStep, Seed = parse.GetValue(Seed) }
            : new GenerationOptions
            {
                MaxNewTokens = perStep, Temperature = Pick(Temperature, model?.SampledTemperature), TopP = Pick(TopP, model?.TopP), TopK = Pick(TopK, model?.TopK), Seed = parse.GetValue(Seed),
                RepetitionPenalty = Pick(RepetitionPenalty, model?.RepetitionPenalty), FrequencyPenalty = Pick(FrequencyPenalty, model?.FrequencyPenalty),
                PresencePenalty = Pick(PresencePenalty, model?.PresencePenalty), NoRepeatNgramSize = Pick(NoRepeatNgram, model?.NoRepeatNgramSize),
                NoRepeatPieces = pieces ? Pick(NoRepeatPieces, model?.NoRepeatPieces) : 0,
            };
        if (parse.GetValue(MaxTokens) < 1) throw new CliUsageException($"--max-tokens {parse.GetValue(MaxTokens)}: must be at least 1");
        try { return options.Validate(); }
        catch (ArgumentOutOfRangeException e)
        {
            string value = Convert.ToString(e.ActualValue, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            throw new CliUsageException($"{Flag(e.ParamName)} {value}: {e.Message.Split(" (Parameter")[0].Split(Environment.NewLine)[0]}");
        }
    }

    private static string Flag(string? property) => property switch
    {
        nameof(GenerationOptions.Temperature) => "--temperature",
        nameof(GenerationOptions.TopP) => "--top-p",
        nameof(GenerationOptions.TopK) => "--top-k",
        nameof(GenerationOptions.RepetitionPenalty) => "--repetition-penalty",
        nameof(GenerationOptions.FrequencyPenalty) => "--frequency-penalty",
        nameof(GenerationOptions.PresencePenalty) => "--presence-penalty",
        nameof(GenerationOptions.NoRepeatNgramSize) => "--no-repeat-ngram",
        nameof(GenerationOptions.NoRepeatPieces) => "--no-repeat-pieces",
        _ => property ?? "an option",
    };
}
