using SentenceVae.Text;

namespace SentenceVae.Evaluation;

/// <summary>How an evaluation with a token limit cuts its text: after whole pieces, inside a document if need be.</summary>
internal static class EvaluationLimit
{
    /// <summary>
    /// The pieces of <paramref name="document"/> (by <paramref name="splitter"/>) up to the last whole
    /// piece within <paramref name="remaining"/> text tokens (at least one piece; ≤ 0: no limit), and
    /// whether that is all of the document.
    /// </summary>
    public static (List<string> Pieces, bool Complete) Pieces(string document, SentenceSplitter splitter, ITextTokenizer tokenizer, long remaining)
    {
        var pieces = new List<string>();
        long used = 0;
        foreach (var piece in splitter.Split(document))
        {
            if (remaining > 0)
            {
                int count = tokenizer.CountTokens(piece);
                if (pieces.Count > 0 && used + count > remaining) return (pieces, false);
                used += count;
            }
            pieces.Add(piece);
        }
        return (pieces, true);
    }

    /// <summary>
    /// For a token model: the document itself without a limit, else its start made of whole lossless
    /// pieces (no budget) holding at most <paramref name="remaining"/> text tokens.
    /// </summary>
    public static (string Text, bool Complete) Prefix(string document, ITextTokenizer tokenizer, long remaining)
    {
        if (remaining <= 0) return (document, true);
        var splitter = new SentenceSplitter(new SplitterOptions { MaxTokens = 0, CountTokens = tokenizer.CountTokens });
        var (pieces, complete) = Pieces(document, splitter, tokenizer, remaining);
        return (complete ? document : string.Concat(pieces), complete);
    }
}
