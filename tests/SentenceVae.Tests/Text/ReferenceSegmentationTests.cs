using System.Text.Json;
using SentenceVae.Text;

namespace SentenceVae.Tests.Text;

/// <summary>The Reference mode reproduces the paper's cutter on every case of fixtures/splitter.json.</summary>
public class ReferenceSegmentationTests
{
    private static readonly SentenceSplitter Splitter = new(new SplitterOptions { Mode = SegmentationMode.Reference });

    public static TheoryData<int, string, string[]> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("splitter.json")));
        var data = new TheoryData<int, string, string[]>();
        int i = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            data.Add(i++, c.GetProperty("text").GetString()!, c.GetProperty("sentences").EnumerateArray().Select(s => s.GetString()!).ToArray());
        return data;
    }

    [Fact]
    public void FixtureHasAllCases() => Assert.Equal(26, Cases().Count());

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReferenceCutter(int index, string text, string[] expected)
    {
        Assert.True(index >= 0);
        Assert.Equal(expected, Splitter.Split(text));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void StreamingGivesTheSamePieces(int index, string text, string[] expected)
    {
        var rng = new Random(index);
        Assert.Equal(expected, Splitter.Split(RandomText.Chunks(text, rng)).ToArray());
    }
}
