using System.Text;
using SentenceVae.Text;
using SentenceVae.Modules;

namespace SentenceVae.Tests.Text;

public class LosslessSegmentationTests
{
    private static readonly SentenceSplitter Splitter = new();

    private static string[] Split(string text) => Splitter.Split(text).ToArray();

    [Fact]
    public void CutsAfterSentenceAndClausePunctuationAndKeepsSpacesLeft() =>
        Assert.Equal(new[] { "The cat sat. ", "The dog barked! ", "Did it? ", "Yes; ", "it did: ", "loudly." },
            Split("The cat sat. The dog barked! Did it? Yes; it did: loudly."));

    [Fact]
    public void KeepsTextAfterTheLastPunctuation()
    {
        Assert.Equal(new[] { "Hello world" }, Split("Hello world"));
        Assert.Equal(new[] { "A line\n", "another line\r\n", "third line" }, Split("A line\nanother line\r\nthird line"));
    }

    [Theory]
    [InlineData("Dr. Smith paid $3.50 for 2.5 kg, i.e. a bargain.", new[] { "Dr. Smith paid $3.50 for 2.5 kg, ", "i.e. a bargain." })]
    [InlineData("It costs 1,000,000 dollars.", new[] { "It costs 1,000,000 dollars." })]
    [InlineData("Mr. and Mrs. Dashwood met St. John, etc. and left.", new[] { "Mr. and Mrs. Dashwood met St. John, ", "etc. and left." })]
    [InlineData("See e.g. the index at 10:30 today.", new[] { "See e.g. the index at 10:30 today." })]
    public void NoCutInsideNumbersOrAfterAbbreviations(string text, string[] expected) => Assert.Equal(expected, Split(text));

    [Theory]
    [InlineData("Wait... what?! Really??", new[] { "Wait... ", "what?! ", "Really??" })]
    [InlineData("省略号……然后继续。", new[] { "省略号……", "然后继续。" })]
    [InlineData("Six dots...... then more.", new[] { "Six dots...... ", "then more." })]
    [InlineData("..,,!!??", new[] { "..,,!!??" })]
    public void PunctuationRunsStayInOnePiece(string text, string[] expected) => Assert.Equal(expected, Split(text));

    [Theory]
    [InlineData("He said, \"Stop.\" Then he left.", new[] { "He said, ", "\"Stop.\" ", "Then he left." })]
    [InlineData("She asked \"why?\" and smiled.", new[] { "She asked \"why?\" ", "and smiled." })]
    [InlineData("Quote at end: \"done.\"", new[] { "Quote at end: ", "\"done.\"" })]
    [InlineData("'Single quotes.' 'Another.'", new[] { "'Single quotes.' ", "'Another.'" })]
    [InlineData("他说：“你好。”然后走了。", new[] { "他说：", "“你好。”", "然后走了。" })]
    [InlineData("He said.\"Go on,\" she said.", new[] { "He said.", "\"Go on,\" ", "she said." })]
    public void QuotesAttachToTheTextTheyEnclose(string text, string[] expected) => Assert.Equal(expected, Split(text));

    [Theory]
    [InlineData("Hello, , , world.", new[] { "Hello, , , ", "world." })]
    [InlineData("\n\n  Hello. \"\" ! Bye.", new[] { "\n\n  Hello. \"\" ! ", "Bye." })]
    public void NoPieceIsOnlyPunctuationOrWhitespace(string text, string[] expected) => Assert.Equal(expected, Split(text));

    [Fact]
    public void LongPiecesAreSplitAtWhitespaceWithinTheTokenBudget()
    {
        string text = string.Join(" ", Enumerable.Range(0, 200).Select(i => $"word{i}")) + ".";
        var tok = TextTokenizers.Gpt2;
        var pieces = new SentenceSplitter(new SplitterOptions { MaxTokens = 16, CountTokens = tok.CountTokens }).Split(text);
        Assert.True(pieces.Count > 10);
        Assert.All(pieces, p => Assert.InRange(tok.CountTokens(p), 1, 16));
        Assert.All(pieces.SkipLast(1), p => Assert.EndsWith(" ", p));
        Assert.Equal(text, string.Concat(pieces));
    }

    [Fact]
    public void AWordLongerThanTheBudgetIsSplitBetweenCharacters()
    {
        string text = new string('x', 300) + "😀" + new string('y', 300) + ". short.";
        var tok = TextTokenizers.Gpt2;
        var pieces = new SentenceSplitter(new SplitterOptions { MaxTokens = 8, CountTokens = tok.CountTokens }).Split(text);
        Assert.All(pieces, p => Assert.InRange(tok.CountTokens(p), 1, 8));
        Assert.All(pieces, p => Assert.False(char.IsHighSurrogate(p[^1]), "a surrogate pair was cut"));
        Assert.Equal(text, string.Concat(pieces));
        Assert.Equal("short.", pieces[^1]);
    }

    [Fact]
    public void RejectsAnUnusableBudget() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new SentenceSplitter(new SplitterOptions { MaxTokens = 3 }));

    /// <summary>The property the mode is named for, over 10,000 random strings, plus the other guarantees.</summary>
    [Fact]
    public void RandomStringsRoundTripStreamEquallyAndRespectTheRules()
    {
        var rng = new Random(20241127);
        var tok = TextTokenizers.Gpt2;
        var budgeted = new SentenceSplitter(new SplitterOptions { MaxTokens = 24, CountTokens = tok.CountTokens });
        var unbudgeted = new SentenceSplitter(new SplitterOptions { MaxTokens = 0 });
        for (int i = 0; i < 10_000; i++)
        {
            string text = RandomText.Next(rng, maxAtoms: i % 10 == 0 ? 300 : 60);
            var pieces = budgeted.Split(text);
            Assert.Equal(text, string.Concat(pieces));
            Assert.All(pieces, p => Assert.NotEmpty(p));
            Assert.All(pieces, p => Assert.True(tok.CountTokens(p) <= 24, $"piece over budget: {p}"));
            Assert.Equal(pieces, budgeted.Split(RandomText.Chunks(text, rng)).ToList());

            // Without a budget to force it (a punctuation run longer than the budget), no piece is content-less.
            var whole = unbudgeted.Split(text);
            Assert.Equal(text, string.Concat(whole));
            if (whole.Count > 1)
                Assert.All(whole, p => Assert.True(SentenceSplitter.HasContent(p), $"content-less piece {Show(p)} in {Show(text)}"));
            Assert.Equal(whole, unbudgeted.Split(RandomText.Chunks(text, rng)).ToList());
        }
    }

    [Fact]
    public void SplittingAReaderEqualsSplittingTheString()
    {
        string text = File.ReadAllText(TestPaths.Data("mobydick-ch01-18.txt"));
        using var reader = new StringReader(text);
        var fromReader = Splitter.Split(reader).ToList();
        Assert.Equal(Splitter.Split(text), fromReader);
        Assert.Equal(text, string.Concat(fromReader));
    }

    private static string Show(string s) => "\"" + s.Replace("\n", "\\n").Replace("\r", "\\r") + "\"";

    [Fact]
    public void LeadingWhitespaceMovesSpacesToTheNextPiece()
    {
        var splitter = new SentenceSplitter(new SplitterOptions { LeadingWhitespace = true });
        Assert.Equal(new[] { "The cat sat.", " The dog barked!", " Did it?", " Yes;", " it did:", " loudly. " },
            splitter.Split("The cat sat. The dog barked! Did it? Yes; it did: loudly. ").ToArray());
        Assert.Equal(new[] { "A line", "\nanother line", "\r\nthird line" }, splitter.Split("A line\nanother line\r\nthird line").ToArray());
    }

    [Fact]
    public void LeadingWhitespacePiecesTokenizeAsTheWholeTextAndStayLossless()
    {
        // GPT-2-style BPE never merges across the space that starts a word, so pieces that begin with
        // their whitespace give the whole text's tokens (but where a cut falls inside a token, as in
        // "afterwards.|--She"); trailing-space pieces add a " " token and space-less words.
        var tok = TextTokenizers.Compact;
        string text = File.ReadAllText(TestPaths.Data("austen-valid.txt"))[..60000];
        var leading = new SentenceSplitter(new SplitterOptions { LeadingWhitespace = true, MaxTokens = 63, CountTokens = tok.CountTokens });
        var trailing = new SentenceSplitter(new SplitterOptions { MaxTokens = 63, CountTokens = tok.CountTokens });
        var pieces = leading.Split(text);
        Assert.Equal(text, string.Concat(pieces));
        Assert.Equal(trailing.Split(text).Count, pieces.Count);
        Assert.All(pieces, p => Assert.InRange(tok.CountTokens(p), 1, 63));
        var whole = tok.Encode(text);
        var joined = pieces.SelectMany(p => tok.Encode(p)).ToList();
        Assert.InRange(joined.Count, whole.Count, whole.Count * 1.002);
        Assert.Equal(whole.Take(800), joined.Take(800));
        Assert.True(trailing.Split(text).Sum(p => tok.CountTokens(p)) > whole.Count * 1.05, "trailing spaces cost extra tokens");

        var rng = new Random(11);
        for (int i = 0; i < 500; i++)
        {
            string random = RandomText.Next(rng, maxAtoms: 60);
            var split = leading.Split(random);
            Assert.Equal(random, string.Concat(split));
            Assert.Equal(split, leading.Split(RandomText.Chunks(random, rng)).ToList());     // streaming splits the same
        }
    }

    [Fact]
    public void SmallBudgetsNeverCutInsideAGraphemeClusterOrACrLfThatFitsTheBudget()
    {
        // ZWJ families, keycaps, flags, skin tones, combining marks and \r\n are one text element each;
        // only an element that alone exceeds the budget is cut (between code points).
        string[] clusters = { "👨‍👩‍👧", "👩🏽‍💻", "1️⃣", "#️⃣", "🇫🇷", "👍🏽", "é", "e\u0301", "\r\n", "ก่", "🏳️‍🌈" };
        var rng = new Random(7);
        var tok = TextTokenizers.Gpt2;
        var splitter = new SentenceSplitter(new SplitterOptions { MaxTokens = 8, CountTokens = tok.CountTokens });
        for (int i = 0; i < 2000; i++)
        {
            var sb = new StringBuilder();
            int n = 1 + rng.Next(40);
            for (int k = 0; k < n; k++)
                sb.Append(rng.Next(3) == 0 ? clusters[rng.Next(clusters.Length)] : RandomText.Next(rng, 2));
            string text = sb.ToString();
            var pieces = splitter.Split(text);
            Assert.Equal(text, string.Concat(pieces));
            var starts = System.Globalization.StringInfo.ParseCombiningCharacters(text);
            var boundaries = new HashSet<int>(starts) { text.Length };
            int at = 0;
            foreach (var piece in pieces)
            {
                at += piece.Length;
                if (!boundaries.Contains(at))
                {
                    int begin = starts.Last(b => b < at), end = starts.FirstOrDefault(b => b > at, text.Length);
                    Assert.True(tok.CountTokens(text[begin..end]) > 8, $"cut inside a text element that fits the budget at {at} in {Show(text)}");
                    Assert.False(char.IsLowSurrogate(text[at]), $"cut inside a code point at {at} in {Show(text)}");
                }
                Assert.True(tok.CountTokens(piece) <= 8, $"piece over budget: {Show(piece)}");
            }
            Assert.Equal(pieces, splitter.Split(RandomText.Chunks(text, rng)).ToList());
        }
    }

    [Fact]
    public void ALetterUnderSixtyCombiningMarksIsCutBetweenCodePointsWithinTheModelsBudget()
    {
        // One grapheme cluster of 81 GPT-2 tokens: it used to stay whole and overflow a 64-token piece.
        string zalgo = "z" + new string('\u0301', 60) + " and more text.";
        var tok = TextTokenizers.Gpt2;
        var splitter = new SentenceVaeConfig { MaxSeqLen = 64, VocabSize = tok.VocabSize }.Splitter(tok);
        var pieces = splitter.Split(zalgo);
        Assert.True(tok.CountTokens(zalgo) > 64);
        Assert.Equal(zalgo, string.Concat(pieces));
        Assert.True(pieces.Count >= 2);
        Assert.All(pieces, p => Assert.InRange(tok.CountTokens(p), 1, 63));
    }

    [Theory]
    [InlineData("a")]                                  // one letter: GPT-2 merges it into long tokens
    [InlineData("abcdefghij0123456789")]               // mixed letters and digits
    public void AMegabyteWithoutSpacesSplitsInLinearWorkWithinTheBudget(string alphabet)
    {
        // Byte-level BPE is quadratic in a run without spaces; the splitter never tokenizes a run longer
        // than the budget could hold, so this is linear (it took minutes for a few MB before).
        // Linear, counted in work rather than time: doubling the text doubles the characters the splitter hands
        // the tokenizer (a quadratic splitter would quadruple them).
        (string Text, List<string> Pieces, long Counted) Split(int length)
        {
            var built = new StringBuilder(length);
            var rng = new Random(7);
            while (built.Length < length) built.Append(alphabet[rng.Next(alphabet.Length)]);
            long counted = 0;
            var counting = new SentenceSplitter(Splitter.Options with { CountTokens = s => { counted += s.Length; return TextTokenizers.Gpt2.CountTokens(s); } });
            var result = counting.Split(built.ToString()).ToList();
            return (built.ToString(), result, counted);
        }
        var (_, _, half) = Split(1 << 19);
        var (text, pieces, whole) = Split(1 << 20);
        Assert.InRange((double)whole / half, 1.8, 2.2);
        Assert.Equal(text, string.Concat(pieces));
        Assert.All(pieces, p => Assert.InRange(TextTokenizers.Gpt2.CountTokens(p), 1, Splitter.Options.MaxTokens));
    }
}
