using SentenceVae.Modules;

namespace SentenceVae.Tests.Modules;

public class NextPiecePlanTests
{
    // Each case: window (pieces, starts, ends, first target), start vector → predictions "position:piece", stops "position:S|C".
    [Theory]
    [InlineData(3, true, true, 0, true, "0:0 1:1 2:2", "0:C 1:C 2:C 3:S")]      // whole document: every piece and the end
    [InlineData(3, true, false, 0, true, "0:0 1:1 2:2", "0:C 1:C 2:C")]         // cut before its end: no stop decision
    [InlineData(3, false, true, 0, true, "1:1 2:2", "1:C 2:C 3:S")]             // mid-document: piece 0 is context only
    [InlineData(4, true, true, 2, true, "2:2 3:3", "2:C 3:C 4:S")]              // overlapping evaluation window: score from piece 2
    [InlineData(0, true, true, 0, true, "", "0:S")]                              // empty document: only "stop"
    [InlineData(3, true, true, 0, false, "0:1 1:2", "0:C 1:C 2:S")]             // reference layout: piece 0 cannot be predicted
    [InlineData(1, false, false, 0, false, "", "")]                              // a lone context piece scores nothing
    public void RowsAndTargets(int pieces, bool starts, bool ends, int first, bool startVector, string predictions, string stops)
    {
        var plan = NextPiecePlan.For([new PieceWindowLayout(pieces, starts, ends, first)], startVector);
        Assert.Equal(predictions, string.Join(' ', plan.Predictions.Select(p => $"{p.Position}:{p.Piece}")));
        Assert.Equal(stops, string.Join(' ', plan.Stops.Select(s => $"{s.Position}:{(s.Target == StopHead.Stop ? 'S' : 'C')}")));
        Assert.All(plan.Predictions, p => Assert.Equal(NextPiecePlan.Position(p.Piece, startVector), p.Position));
    }

    [Fact]
    public void RowsOfABatchKeepTheirIndex()
    {
        var plan = NextPiecePlan.For([new PieceWindowLayout(2, true, true), new PieceWindowLayout(1, false, false), new PieceWindowLayout(2, false, true)], true);
        Assert.Equal(new[] { 0, 0, 2 }, plan.Predictions.Select(p => p.Row));
        Assert.Equal(new[] { 0, 0, 0, 2, 2 }, plan.Stops.Select(s => s.Row));
        Assert.Equal(-1, plan.Predictions[0].PreviousPiece);
        Assert.Equal(0, plan.Predictions[1].PreviousPiece);
    }
}
