using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using SentenceVae.Text;

namespace SentenceVae.Evaluation;

/// <summary>
/// How much generated texts repeat themselves, each text on its own and then averaged
/// over texts: the share of its word 4-grams already seen earlier in it, the share of its pieces (cut as
/// the splitter cuts text) equal to an earlier piece of it, and distinct-2 (distinct word bigrams ÷
/// bigrams). Words are lower-cased runs of letters, digits and apostrophes, so the figures do not depend
/// on a model's tokenizer.
/// </summary>
public sealed record RepetitionStats(
    [property: JsonPropertyName("texts")] int Texts,
    [property: JsonPropertyName("words")] int Words,
    [property: JsonPropertyName("repeated_4grams")] double Repeated4Grams,
    [property: JsonPropertyName("repeated_pieces")] double RepeatedPieces,
    [property: JsonPropertyName("distinct_2")] double Distinct2)
{
    private static readonly Regex Word = new(@"[\p{L}\p{N}']+", RegexOptions.Compiled);

    /// <summary>The figures of <paramref name="texts"/>, pieces cut by <paramref name="splitter"/>.</summary>
    public static RepetitionStats Of(IReadOnlyList<string> texts, SentenceSplitter splitter)
    {
        var fourGrams = new List<double>();
        var pieces = new List<double>();
        var distinct = new List<double>();
        foreach (var text in texts)
        {
            var words = Word.Matches(text.ToLowerInvariant()).Select(m => m.Value).ToList();
            if (Share(NGrams(words, 4)) is double f) fourGrams.Add(f);
            if (Share(splitter.Split(text).Select(p => p.Trim()).Where(p => p.Length > 0).ToList()) is double p) pieces.Add(p);
            var bigrams = NGrams(words, 2);
            if (bigrams.Count > 0) distinct.Add((double)bigrams.Distinct().Count() / bigrams.Count);
        }
        return new RepetitionStats(texts.Count, texts.Sum(t => Word.Matches(t).Count), Mean(fourGrams), Mean(pieces), Mean(distinct));
    }

    /// <summary>Share of items equal to an earlier item; null when there are none.</summary>
    public static double? Share(IReadOnlyList<string> items)
    {
        if (items.Count == 0) return null;
        var seen = new HashSet<string>();
        int repeated = items.Count(item => !seen.Add(item));
        return (double)repeated / items.Count;
    }

    private static List<string> NGrams(List<string> words, int n) =>
        Enumerable.Range(0, Math.Max(0, words.Count - n + 1)).Select(i => string.Join(' ', words.Skip(i).Take(n))).ToList();

    private static double Mean(List<double> values) => values.Count == 0 ? double.NaN : values.Average();
}
