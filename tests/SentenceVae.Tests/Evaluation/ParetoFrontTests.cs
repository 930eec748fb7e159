using SentenceVae.Evaluation;

namespace SentenceVae.Tests.Evaluation;

/// <summary>A family's speed–quality front: the points no other point beats in both speed and quality.</summary>
public class ParetoFrontTests
{
    [Fact]
    public void APointBeatenInBothIsOffTheFrontAndTiesStayOn()
    {
        // (speed, bits/byte): the second is slower and worse than the first; the third is fastest; the fourth best.
        var points = new List<(double, double)> { (1000, 1.70), (900, 1.72), (1300, 1.75), (600, 1.66), (1000, 1.70) };
        Assert.Equal([true, false, true, true, true], Statistics.ParetoFront(points));
    }
}
