using System.CommandLine;

namespace SentenceVae.Cli.Commands;

/// <summary>
/// Where a generation prompt comes from (<c>--prompt TEXT</c> or <c>--prompt-file FILE|-</c>, exactly one)
/// and what happens when it does not fit the model's positions (an error, or <c>--truncate-prompt</c>:
/// keep its end).
/// </summary>
internal sealed class PromptOptions
{
    public Option<string?> Text { get; } = new("--prompt") { Description = "text to continue" };
    public Option<string?> File { get; } = new("--prompt-file") { Description = "read the prompt from a UTF-8 file ('-': standard input), for prompts of any length" };
    public Option<bool> Truncate { get; } = new("--truncate-prompt") { Description = "keep only the end of a prompt longer than the model's positions allow (default: an error)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Text);
        command.Options.Add(File);
        command.Options.Add(Truncate);
    }

    /// <summary>The prompt's text; read before any model is loaded, so a bad file is reported at once.</summary>
    public string Read(ParseResult parse, CliIO io)
    {
        string? text = parse.GetValue(Text), file = parse.GetValue(File);
        if ((text is null) == (file is null)) throw new CliUsageException("give the prompt with exactly one of --prompt TEXT or --prompt-file FILE");
        return text ?? CliInput.ReadAll(file, io);
    }

    /// <summary>
    /// Checks that <paramref name="promptUnits"/> prompt tokens/pieces leave room for one more in the model's
    /// <paramref name="capacity"/> positions (output past the trained context keeps its most recent half in
    /// view, so only the prompt is bounded); returns how many of the prompt's last units to keep.
    /// </summary>
    public int Fit(ParseResult parse, int promptUnits, int capacity, string unit, string limitName)
    {
        if (promptUnits < capacity) return promptUnits;
        if (parse.GetValue(Truncate)) return capacity - 1;
        throw new CliUsageException($"the prompt has {promptUnits} {unit}s but the model's {limitName} hold {capacity} with one to write; " +
                                    $"shorten the prompt, or pass --truncate-prompt to keep its last {capacity - 1} {unit}s");
    }
}
