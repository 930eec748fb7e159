using System.Text;

namespace SentenceVae.Tests.Text;

/// <summary>Random strings that mix what real text throws at a splitter or tokenizer: ASCII, punctuation, whitespace, line breaks, CJK, emoji, numbers and abbreviations.</summary>
public static class RandomText
{
    private static readonly string[] Atoms =
    {
        "a", "b", "Z", "word", "The", "x", " ", " ", "  ", "\t", "\n", "\r\n", "\n\n", ".", ",", "!", "?", ";", ":", "...", "?!", "…", "……",
        "\"", "'", "“", "”", "‘", "’", "(", ")", "[", "]", "-", "--", "3.50", "1,000", "2.5", "10:30", "Mr.", "Dr.", "e.g.", "i.e.", "etc.",
        "中", "文", "。", "，", "！", "？", "；", "：", "😀", "🎉", "👍🏽", "é", "ß", "ж", "0", "7", "$", "%", "&", "<|eos|>", "\u00a0", "\u2028",
    };

    public static string Next(Random rng, int maxAtoms = 60)
    {
        var sb = new StringBuilder();
        int n = rng.Next(maxAtoms + 1);
        for (int i = 0; i < n; i++) sb.Append(Atoms[rng.Next(Atoms.Length)]);
        return sb.ToString();
    }

    /// <summary>Cuts a string into random chunks (any boundary, surrogate pairs included).</summary>
    public static IEnumerable<string> Chunks(string text, Random rng)
    {
        int i = 0;
        while (i < text.Length)
        {
            int len = Math.Min(text.Length - i, 1 + rng.Next(8));
            yield return text.Substring(i, len);
            i += len;
        }
    }
}
