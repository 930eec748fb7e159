using System.CommandLine;

namespace SentenceVae.Cli;

/// <summary>"Did you mean …?" for an unknown option or command: a renamed flag's new name, else the closest names (edit distance).</summary>
internal static class Suggestions
{
    // Flags that were renamed when the commands took the API's vocabulary.
    private static readonly Dictionary<string, string> Renamed = new()
    {
        ["--max-new-tokens"] = "--max-tokens",
        ["--max-pieces"] = "--max-tokens",
        ["--max-tokens"] = "--piece-tokens",
        ["--models"] = "--model",
    };

    /// <summary>"; did you mean '…'?" naming what <paramref name="command"/> has closest to <paramref name="token"/>, or "".</summary>
    public static string For(string token, Command command)
    {
        var names = command.Options.SelectMany(o => o.Aliases.Append(o.Name)).Concat(command.Subcommands.Select(c => c.Name)).Where(n => n.Length > 1).Distinct().ToList();
        string key = token.Split('=')[0];
        if (Renamed.TryGetValue(key, out var renamed) && names.Contains(renamed)) return $"; did you mean '{renamed}'?";
        var close = names.Select(n => (Name: n, Distance: Distance(key, n))).Where(c => c.Distance <= Math.Max(2, key.Length / 4))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name).Take(2).Select(c => $"'{c.Name}'").ToList();
        return close.Count == 0 ? "" : $"; did you mean {string.Join(" or ", close)}?";
    }

    /// <summary>Levenshtein distance.</summary>
    public static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
    }
}
