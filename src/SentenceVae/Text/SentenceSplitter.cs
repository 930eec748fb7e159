using System.Globalization;
using System.Text;

namespace SentenceVae.Text;

/// <summary>
/// Cuts text into the short pieces ("sentences") that the SentenceVAE encodes one vector each.
/// Splitting a stream (<see cref="Split(TextReader)"/> or chunks) yields exactly the pieces of
/// splitting the whole string: a cut is only decided once enough text after it has been seen.
/// </summary>
public sealed class SentenceSplitter
{
    private const int ReadChunkChars = 1 << 16;
    private readonly Func<string, int> countTokens;

    /// <summary>A splitter with these options (defaults: lossless, 64 GPT-2 tokens).</summary>
    public SentenceSplitter(SplitterOptions? options = null)
    {
        Options = options ?? new SplitterOptions();
        if (Options.MaxTokens is < 0 or > 0 and < 8)
            throw new ArgumentOutOfRangeException(nameof(options), Options.MaxTokens, "MaxTokens must be 0 (no budget) or at least 8.");
        countTokens = Options.CountTokens ?? (s => TextTokenizers.Gpt2.CountTokens(s));
    }

    /// <summary>The options in force.</summary>
    public SplitterOptions Options { get; }

    /// <summary>The pieces of <paramref name="text"/>; in lossless mode they concatenate to it.</summary>
    public IReadOnlyList<string> Split(string text) => Split(new[] { text }).ToList();

    /// <summary>The pieces of everything the reader gives, streamed (same pieces as splitting the whole string).</summary>
    public IEnumerable<string> Split(TextReader reader) => Split(ReadChunks(reader));

    /// <summary>Splits text that arrives in chunks (any sizes, cut anywhere).</summary>
    public IEnumerable<string> Split(IEnumerable<string> chunks)
    {
        var raw = CutRaw(chunks);
        if (Options.Mode == SegmentationMode.Reference) return raw;
        var pieces = FitBudget(MergeContentless(raw));
        return Options.LeadingWhitespace ? MoveWhitespaceRight(pieces) : pieces;
    }

    /// <summary>Each piece's trailing whitespace moves to the start of the next piece (while that stays within the budget); the last piece keeps its own.</summary>
    private IEnumerable<string> MoveWhitespaceRight(IEnumerable<string> pieces)
    {
        string? previous = null;
        foreach (var piece in pieces)
        {
            if (previous is null) { previous = piece; continue; }
            int content = previous.Length;
            while (content > 0 && char.IsWhiteSpace(previous[content - 1])) content--;
            string moved = previous[content..], next = moved + piece;
            if (content > 0 && moved.Length > 0 && (Options.MaxTokens == 0 || countTokens(next) <= Options.MaxTokens))
            {
                yield return previous[..content];
                previous = next;
            }
            else
            {
                yield return previous;
                previous = piece;
            }
        }
        if (previous is not null) yield return previous;
    }

    private static IEnumerable<string> ReadChunks(TextReader reader)
    {
        var buffer = new char[ReadChunkChars];
        int read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
            yield return new string(buffer, 0, read);
    }

    // ---- raw cutting over a growing buffer ------------------------------------------------

    /// <summary>A cut search result: the piece's end, "need more text", or "no more pieces".</summary>
    private const int NeedMore = -1, NoMore = -2;

    private IEnumerable<string> CutRaw(IEnumerable<string> chunks)
    {
        string buffer = "";
        int pieceStart = 0;                  // the current piece begins here in the buffer
        int resume = 0;                      // scanning (re)starts here
        using var e = chunks.GetEnumerator();
        bool final = false;
        while (true)
        {
            int end = Options.Mode == SegmentationMode.Reference
                ? NextReferenceCut(buffer, resume, final, out int scanned)
                : NextLosslessCut(buffer, pieceStart, resume, final, out scanned);
            if (end == NoMore) yield break;
            if (end == NeedMore)
            {
                if (final) throw new InvalidOperationException("unreachable: cutter asked for more text after the end");
                // Drop what was already emitted, then append the next chunk.
                buffer = buffer[pieceStart..];
                scanned -= pieceStart;
                pieceStart = 0;
                if (e.MoveNext()) buffer += e.Current ?? "";
                else final = true;
                resume = scanned;
                continue;
            }
            yield return buffer[pieceStart..end];
            pieceStart = resume = end;
        }
    }

    // The reference cutter (PassageCollate.cut_sentence_func), described in our words:
    // cut after one of the two-character pairs below, else after one of the single characters;
    // then spaces and line breaks go with the left piece. Text after the last cut is dropped.
    private static readonly string[] ReferencePairs =
    {
        "……", "，”", "”，", "。”", "”。", "!”", "”！", "？”", "”？",
        ",\"", "\",", ".\"", "\".", "!\"", "\"!", "?\"", "\"?",
    };
    private const string ReferenceSingles = "，。”！？；：,.!?;:\"\n\r";

    private static int NextReferenceCut(string b, int start, bool final, out int scanned)
    {
        int n = b.Length;
        for (int p = start; p < n; p++)
        {
            scanned = p;
            int end;
            if (p + 1 >= n && !final) return NeedMore;      // a pair may begin here
            if (p + 1 < n && Array.IndexOf(ReferencePairs, b.Substring(p, 2)) >= 0) end = p + 2;
            else if (ReferenceSingles.Contains(b[p])) end = p + 1;
            else continue;
            while (end < n && b[end] is ' ' or '\n' or '\r') end++;
            if (end == n && !final) return NeedMore;
            return end;
        }
        scanned = n;
        return final ? NoMore : NeedMore;
    }

    // Lossless cutting. A cut candidate is a line break, or a run of sentence/clause punctuation
    // together with the closing quotes and brackets that follow it. A run ending in ASCII
    // punctuation directly followed by a letter or digit is not a cut (3.50, 1,000, e.g., 10:30,
    // example.com), nor is a lone full stop after a known abbreviation (Mr., St., etc.).
    // After a cut, following whitespace goes with the left piece.
    private int NextLosslessCut(string b, int pieceStart, int start, bool final, out int scanned)
    {
        int n = b.Length;
        for (int p = start; p < n; p++)
        {
            scanned = p;
            char c = b[p];
            int end;
            if (IsLineBreak(c))
            {
                end = p + 1;
            }
            else if (IsCutPunctuation(c))
            {
                int q = p, lastPunctuation = p;
                while (true)
                {
                    if (q >= n)
                    {
                        if (!final) return NeedMore;
                        break;
                    }
                    char r = b[q];
                    if (IsCutPunctuation(r)) { lastPunctuation = q++; continue; }
                    if (IsClosing(r)) { q++; continue; }
                    if (r is '"' or '\'')
                    {
                        // An ASCII quote right after the punctuation closes it, unless a word follows (then it opens the next piece).
                        if (q + 1 >= n && !final) return NeedMore;
                        if (q + 1 >= n || !IsWordChar(b[q + 1])) { q++; continue; }
                    }
                    break;
                }
                bool glued = b[lastPunctuation] < 128 && q < n && IsWordChar(b[q]);
                bool abbreviation = q == p + 1 && c == '.' && IsAbbreviation(b, pieceStart, p);
                if (glued || abbreviation)
                {
                    p = q - 1;
                    continue;
                }
                end = q;
            }
            else continue;

            while (end < n && char.IsWhiteSpace(b[end])) end++;
            if (end == n && !final) return NeedMore;
            return end;
        }
        scanned = n;
        if (!final) return NeedMore;
        return n > pieceStart ? n : NoMore;   // the text after the last cut is a piece too
    }

    private static bool IsLineBreak(char c) => c is '\n' or '\r' or '\u0085' or '\u2028' or '\u2029';

    private static bool IsCutPunctuation(char c) => c is '.' or ',' or '!' or '?' or ';' or ':' or '…'
        or '。' or '，' or '！' or '？' or '；' or '：' or '｡';

    private static bool IsClosing(char c) => c is '”' or '’' or ')' or ']' or '}' or '»' or '」' or '』' or '）' or '】' or '〉' or '》';

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c);

    private bool IsAbbreviation(string b, int pieceStart, int dot)
    {
        int k = dot;
        while (k > pieceStart && (char.IsLetter(b[k - 1]) || b[k - 1] == '.')) k--;
        return k < dot && Options.Abbreviations.Contains(b[k..dot]);
    }

    // ---- lossless post-processing -------------------------------------------------------

    /// <summary>True when the piece has a character that is neither whitespace nor punctuation.</summary>
    public static bool HasContent(string piece)
    {
        foreach (char c in piece)
            if (IsContent(c)) return true;
        return false;
    }

    /// <summary>A piece of only punctuation, quotes or whitespace joins the piece before it (the first such joins the next).</summary>
    private static IEnumerable<string> MergeContentless(IEnumerable<string> pieces)
    {
        StringBuilder? held = null, leading = null;            // builders: a long run of contentless pieces stays linear
        foreach (var raw in pieces)
        {
            if (!HasContent(raw))
            {
                (held ?? (leading ??= new StringBuilder())).Append(raw);
                continue;
            }
            if (held is not null) yield return held.ToString();
            held = new StringBuilder();
            if (leading is not null) { held.Append(leading); leading = null; }
            held.Append(raw);
        }
        if (held is not null) yield return held.ToString();
        else if (leading is not null) yield return leading.ToString();   // the whole text has no content
    }

    /// <summary>
    /// More UTF-16 characters than any one token holds (GPT-2's longest token is 128 bytes). Text longer
    /// than budget × this cannot fit the budget and is not tokenized whole: byte-level BPE is quadratic
    /// in the length of a run without spaces, so counting a long run would make splitting super-linear.
    /// </summary>
    internal const int MaxCharsPerToken = 256;

    private bool Fits(string text) => text.Length <= (long)Options.MaxTokens * MaxCharsPerToken && countTokens(text) <= Options.MaxTokens;

    private IEnumerable<string> FitBudget(IEnumerable<string> pieces)
    {
        foreach (var piece in pieces)
        {
            if (Options.MaxTokens == 0 || Fits(piece)) yield return piece;
            else foreach (var part in SplitLongPiece(piece)) yield return part;
        }
    }

    /// <summary>Greedily packs whitespace-separated words into parts within the budget.</summary>
    private IEnumerable<string> SplitLongPiece(string piece)
    {
        int max = Options.MaxTokens;
        var current = new StringBuilder();
        foreach (var unit in WordUnits(piece))
        {
            if (current.Length > 0 && Fits(current + unit))
            {
                current.Append(unit);
                continue;
            }
            if (current.Length > 0) yield return current.ToString();
            current.Clear();
            if (Fits(unit))
            {
                current.Append(unit);
                continue;
            }
            var parts = SplitBetweenCharacters(unit, max);
            for (int i = 0; i < parts.Count - 1; i++) yield return parts[i];
            current.Append(parts[^1]);
        }
        if (current.Length > 0) yield return current.ToString();
    }

    /// <summary>Words with their following whitespace; a word without content sticks to the next one.</summary>
    private static List<string> WordUnits(string piece)
    {
        var chunks = new List<string>();
        int i = 0;
        while (i < piece.Length)
        {
            int j = i;
            while (j < piece.Length && char.IsWhiteSpace(piece[j])) j++;   // only the first chunk can start with whitespace
            while (j < piece.Length && !char.IsWhiteSpace(piece[j])) j++;
            while (j < piece.Length && char.IsWhiteSpace(piece[j])) j++;
            chunks.Add(piece[i..j]);
            i = j;
        }
        var units = new List<string>();
        var pending = new StringBuilder();                    // a builder: a long run of contentless chunks stays linear
        foreach (var chunk in chunks)
        {
            pending.Append(chunk);
            if (!HasContent(chunk)) continue;
            units.Add(pending.ToString());
            pending.Clear();
        }
        if (pending.Length > 0)
        {
            if (units.Count > 0) units[^1] += pending.ToString();
            else units.Add(pending.ToString());
        }
        return units;
    }

    /// <summary>
    /// Last resort for one over-long word: the longest prefixes within budget, cut between grapheme
    /// clusters (never inside a ZWJ sequence, a keycap, a flag, a skin-tone modifier or a \r\n),
    /// preferring cuts that leave content (not only punctuation) on both sides. A single cluster over
    /// the budget (a letter under dozens of combining marks) is cut between its code points, so no piece
    /// ever exceeds the budget (one code point is at most 4 byte-level tokens; the budget is at least 8).
    /// Each part is looked for within <see cref="Reach"/> characters of its start, and a cluster is read
    /// no further, so the work is linear in the word's length however its clusters are built.
    /// </summary>
    private List<string> SplitBetweenCharacters(string word, int max)
    {
        var parts = new List<string>();
        int lastContent = LastContentIndex(word);
        int start = 0;
        while (start < word.Length)
        {
            int limit = (int)Math.Min(word.Length, (long)start + Reach(max));
            var ends = new List<int>();
            bool seenContent = false;
            for (int k = start; k < limit;)
            {
                seenContent |= IsContent(word[k]) || char.IsSurrogate(word[k]);
                k += Cluster(word, k, limit);                     // whole grapheme clusters (ZWJ emoji, keycaps, \r\n)
                if (seenContent && (k <= lastContent || k == word.Length)) ends.Add(k);
            }
            if (ends.Count == 0 || countTokens(word[start..ends[0]]) > max)
            {
                ends.Clear();                                   // pathological: no content-respecting cut fits
                for (int k = start; k < limit;) ends.Add(k += Cluster(word, k, limit));
            }
            if (countTokens(word[start..ends[0]]) > max)
            {
                ends.Clear();                                   // one grapheme cluster over the budget: cut between code points
                for (int k = start; k < limit;) ends.Add(k += char.IsHighSurrogate(word[k]) && k + 1 < word.Length && char.IsLowSurrogate(word[k + 1]) ? 2 : 1);
            }
            int longest = Longest(word, start, ends, max);      // ends[0] is always taken: every part makes progress
            parts.Add(word[start..ends[longest]]);
            start = ends[longest];
        }
        return parts;
    }

    /// <summary>The most UTF-16 characters one part of an over-long word is looked for in (16 per token of the budget).</summary>
    private static int Reach(int max) => max * 16;

    /// <summary>The length of the grapheme cluster at <paramref name="k"/>, read no further than <paramref name="limit"/> (a longer one is cut there, never inside a surrogate pair).</summary>
    private static int Cluster(string s, int k, int limit)
    {
        int n = StringInfo.GetNextTextElementLength(s.AsSpan(k, limit - k));
        if (k + n == limit && limit < s.Length && char.IsHighSurrogate(s[limit - 1]) && char.IsLowSurrogate(s[limit])) n = n > 1 ? n - 1 : 2;
        return Math.Max(1, n);
    }

    /// <summary>
    /// The last index of <paramref name="ends"/> whose prefix fits the budget (0 when none does): galloping
    /// from the start, then halving, so the tokens counted follow the part's length, not the window's.
    /// </summary>
    private int Longest(string word, int start, List<int> ends, int max)
    {
        bool Fits(int i) => countTokens(word[start..ends[i]]) <= max;
        int lo = 0, step = 1;
        while (lo + step < ends.Count && Fits(lo + step)) { lo += step; step *= 2; }
        int hi = Math.Min(ends.Count - 1, lo + step - 1);
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (Fits(mid)) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    private static bool IsContent(char c) => !char.IsWhiteSpace(c) && !char.IsPunctuation(c);

    private static int LastContentIndex(string s)
    {
        for (int i = s.Length - 1; i >= 0; i--)
            if (IsContent(s[i])) return i;
        return -1;
    }
}
