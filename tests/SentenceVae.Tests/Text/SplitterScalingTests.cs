using SentenceVae.Text;

namespace SentenceVae.Tests.Text;

/// <summary>Segmentation is linear in its input whatever the text's shape: counted in characters handed to the tokenizer, not timed.</summary>
public class SplitterScalingTests
{
    /// <summary>Characters the splitter handed to its token counter while splitting <paramref name="text"/> (the pieces are checked lossless).</summary>
    private static long Counted(string text)
    {
        long characters = 0;
        var splitter = new SentenceSplitter(new SplitterOptions
        {
            MaxTokens = 63,
            CountTokens = s => { characters += s.Length; return TextTokenizers.Compact.CountTokens(s); },
            LeadingWhitespace = true,
        });
        var pieces = splitter.Split(text);
        Assert.Equal(text, string.Concat(pieces));
        Assert.All(pieces, p => Assert.InRange(TextTokenizers.Compact.CountTokens(p), 0, 63));
        return characters;
    }

    public static TheoryData<string, int> Shapes => new()
    {
        { "combining", 8_000 },            // one grapheme cluster: a letter under N combining marks
        { "zwj", 4_000 },                  // one emoji ZWJ chain
        { "dots", 20_000 },                // ". " repeated: pieces without content
        { "word", 20_000 },                // one word without spaces
    };

    private static string Make(string shape, int n) => shape switch
    {
        "combining" => "a" + new string('\u0301', n),
        "zwj" => string.Concat(Enumerable.Repeat("\U0001F468\u200D", n)),
        "dots" => string.Concat(Enumerable.Repeat(". ", n)),
        _ => new string('x', n),
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DoublingTheTextAtMostDoublesTheWork(string shape, int n)
    {
        long once = Counted(Make(shape, n)), twice = Counted(Make(shape, 2 * n));
        Assert.True(twice <= 2.3 * once + 1000, $"{shape}: {once:N0} characters counted for n = {n:N0}, {twice:N0} for 2n — not linear");
    }
}
