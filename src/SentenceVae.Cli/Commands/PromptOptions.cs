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
    /// Checks that <paramref name="promptUnits"/> prompt tokens/pieces plus <paramref name="newUnits"/> to
    /// generate fit <paramref name="capacity"/>; returns how many of the prompt's last units to keep.
    /// </summary>
    public int Fit(ParseResult parse, int promptUnits, int newUnits, int capacity, string unit, string newOption, string limitName)
    {
        if (newUnits < 1) throw new CliUsageException($"{newOption} must be at least 1 (is {newUnits})");
        if (newUnits > capacity - 1)
            throw new CliUsageException($"{newOption} {newUnits} exceeds what the model's {limitName} allow ({capacity - 1} with a one-{unit} prompt)");
        if (promptUnits + newUnits <= capacity) return promptUnits;
        if (parse.GetValue(Truncate)) return capacity - newUnits;
        throw new CliUsageException($"the prompt has {promptUnits} {unit}s and {newOption} asks for {newUnits}, but the model's {limitName} hold {capacity}; " +
                                    $"shorten the prompt, lower {newOption}, or pass --truncate-prompt to keep its last {capacity - newUnits} {unit}s");
    }
}
