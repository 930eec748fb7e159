using SentenceVae.Text;

namespace SentenceVae.Evaluation;

/// <summary>How an evaluation with a token limit cuts its text: after whole pieces, inside a document if need be.</summary>
internal static class EvaluationLimit
{
    /// <summary>
    /// The start of <paramref name="document"/> made of whole pieces holding at most
    /// <paramref name="remaining"/> text tokens (at least one piece), and whether that is all of it.
    /// <paramref name="remaining"/> ≤ 0: no limit. The pieces are the model's (its splitter) or, for a
    /// token model, lossless pieces with no budget.
    /// </summary>
    public static (string Text, bool Complete) Prefix(string document, ITextTokenizer tokenizer, SentenceSplitter? splitter, long remaining)
    {
        if (remaining <= 0) return (document, true);
        splitter ??= new SentenceSplitter(new SplitterOptions { MaxTokens = 0, CountTokens = tokenizer.CountTokens });
        long used = 0;
        int length = 0, taken = 0;
        foreach (var piece in splitter.Split(document))
        {
            int count = tokenizer.CountTokens(piece);
            if (taken > 0 && used + count > remaining) return (document[..length], false);
            used += count;
            length += piece.Length;
            taken++;
        }
        return (document, true);
    }
}
