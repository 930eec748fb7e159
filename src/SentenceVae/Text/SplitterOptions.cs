namespace SentenceVae.Text;

/// <summary>Settings of a <see cref="SentenceSplitter"/>.</summary>
public sealed record SplitterOptions
{
    /// <summary>Words whose trailing full stop does not end a piece (compared case-insensitively, without the final dot).</summary>
    public static readonly IReadOnlySet<string> DefaultAbbreviations = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "mr", "mrs", "ms", "messrs", "mme", "mlle", "dr", "st", "jr", "sr", "prof", "rev", "hon",
        "capt", "col", "gen", "lt", "sgt", "mt", "ft", "vs", "cf", "viz", "e.g", "i.e", "etc",
    };

    /// <summary>Lossless (the default) or the paper's reference cutter.</summary>
    public SegmentationMode Mode { get; init; } = SegmentationMode.Lossless;

    /// <summary>
    /// Lossless mode: no piece has more tokens than this (longer pieces are split at whitespace,
    /// and as a last resort between characters). 0 disables the budget. Must be 0 or at least 8.
    /// The budget wins over the no-punctuation-only-piece rule: a run of punctuation longer than the
    /// budget is necessarily cut into punctuation-only parts.
    /// </summary>
    public int MaxTokens { get; init; } = 64;

    /// <summary>
    /// Lossless mode: the whitespace after a cut begins the next piece instead of ending the previous one
    /// ("said," + " she"), so pieces tokenize exactly as the whole text does with GPT-2-style BPE
    /// (" she" is one token; a trailing " " and a space-less "she" are not). A move that would push the
    /// next piece over the budget is not made.
    /// </summary>
    public bool LeadingWhitespace { get; init; }

    /// <summary>Counts the tokens of a piece for <see cref="MaxTokens"/>; null means GPT-2 BPE.</summary>
    public Func<string, int>? CountTokens { get; init; }

    /// <summary>Words whose trailing full stop does not end a piece.</summary>
    public IReadOnlySet<string> Abbreviations { get; init; } = DefaultAbbreviations;
}
