using System.CommandLine;
using System.Text;
using SentenceVae.Cli.Commands;
using SentenceVae.Text;

namespace SentenceVae.Cli;

/// <summary>The <c>svae</c> command line: builds the commands, runs one, and turns failures into one line on stderr.</summary>
public static class SvaeCli
{
    public static int Run(string[] args, Stream stdin, Stream stdout, TextWriter stderr)
    {
        using var output = new StreamWriter(stdout, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        var io = new CliIO(stdin, output, stderr);
        var root = new RootCommand("SentenceVAE and sentence-level LLMs: segmentation, tokenizers, models.")
        {
            DemoCommand.Create(io),
            SplitCommand.Create(io),
            TokenizeCommand.Create(io),
            StatsCommand.Create(io),
            VocabCommand.Create(io),
            VaeCommand.Create(io),
            GenerateCommand.Create(io),
            RepetitionCommand.Create(io),
            ServeCommand.Create(io),
            ServeCommand.CreateBench(io),
            LmCommand.Create(io),
            BenchCommand.Create(io),
            ExportCommand.Create(io),
            ConvertCommand.Create(io),
            PrepareCommand.Create(io),
            TrainCommand.Create(io),
            FinetuneCommand.Create(io),
            EvalCommand.Create(io),
            PlotCommand.Create(io),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // A "--flag" the command does not have may have been taken as an argument's value; name it rather than what follows.
            var known = parsed.CommandResult.Command.Options.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet();
            string? unknown = parsed.UnmatchedTokens.Count == 0 ? null
                : new[] { args.FirstOrDefault(a => a.StartsWith("--") && a != "--" && !known.Contains(a.Split('=')[0])), parsed.UnmatchedTokens[0] }
                    .OfType<string>().OrderBy(t => Array.IndexOf(args, t)).First();                   // whichever comes first
            // Suggestions and help come from the command the unknown word was given to: the commands named before it
            // ("svae trian lm": the root, not lm).
            var chain = new List<Command>();
            Command at = root;
            foreach (var arg in unknown is null ? args : args.Take(Array.IndexOf(args, unknown)))
                if (at.Subcommands.FirstOrDefault(c => c.Name == arg) is { } sub) { chain.Add(sub); at = sub; }
            if (unknown is null) at = parsed.CommandResult.Command;
            string help = string.Join(' ', (unknown is null ? CommandPath(parsed.CommandResult) : chain.Select(c => c.Name)).Prepend("svae"));
            if (unknown is not null)
                stderr.WriteLine($"svae: unknown {(unknown.StartsWith('-') ? "option" : "command or argument")} '{unknown}'{Suggestions.For(unknown, at)} (see '{help} --help')");
            else stderr.WriteLine($"svae: {OneLine(parsed.Errors[0].Message)} (see '{help} --help')");
            return 2;
        }
        try
        {
            int code = parsed.InvokeAsync(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false, Output = output, Error = stderr,
                // Ctrl+C / SIGTERM cancel the command's token; a training run then finishes its step and
                // writes a checkpoint, which may take a while on a big model.
                ProcessTerminationTimeout = TimeSpan.FromSeconds(120),
            }).GetAwaiter().GetResult();
            output.Flush();
            return code;
        }
        catch (Exception e) when (IsUserError(e))
        {
            TryFlush(output);
            stderr.WriteLine($"svae: {OneLine(e.Message)}");
            return 1;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("SVAE_DEBUG") is null)
        {
            TryFlush(output);
            // One line without the exception's type or libtorch's C++ frames; SVAE_DEBUG=1 shows everything.
            string first = e.Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
            if (first.Contains("not enough memory", StringComparison.OrdinalIgnoreCase) || e is OutOfMemoryException)
            {
                stderr.WriteLine("svae: out of memory (the model or batch is too large for this machine)");
                return 1;
            }
            stderr.WriteLine($"svae: internal error: {(first.Length > 200 ? first[..200] + "…" : first)} (a bug; set SVAE_DEBUG=1 for details)");
            return 70;
        }
    }

    private static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (var r = result; r is not null && r.Parent is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult) names.Insert(0, r.Command.Name);
        return names;
    }

    private static bool IsUserError(Exception e) => e is FileNotFoundException or DirectoryNotFoundException
        or InvalidDataException or TokenizerLoadException or CliUsageException or UnauthorizedAccessException
        or ArgumentOutOfRangeException or IOException;

    private static string OneLine(string message) => string.Join(' ', message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    private static void TryFlush(TextWriter writer)
    {
        try { writer.Flush(); } catch (IOException) { }
    }
}

/// <summary>Standard streams of one run (tests pass their own).</summary>
public sealed record CliIO(Stream Stdin, TextWriter Out, TextWriter Error);

/// <summary>A command was given arguments it cannot use; the message is shown as is.</summary>
public sealed class CliUsageException(string message) : Exception(message);
