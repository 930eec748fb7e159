using SentenceVae.Data;
using Xunit;

namespace SentenceVae.Tests.Data;

public class PieceBatchesTests
{
    private static List<int[]> Pieces(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i => Enumerable.Range(i * 100, rng.Next(1, 20)).ToArray()).ToList();
    }

    [Fact]
    public void Each_epoch_holds_every_piece_once_in_length_bucketed_batches_and_depends_only_on_seed_and_epoch()
    {
        var pieces = Pieces(1000, 1);
        var batches = new PieceBatches(pieces, batchSize: 16, seed: 7);
        var epoch = batches.Epoch(3);

        Assert.Equal(batches.BatchesPerEpoch, epoch.Count);
        Assert.Equal(pieces.OrderBy(p => p[0]).Select(p => p[0]), epoch.SelectMany(b => b).Select(p => p[0]).OrderBy(x => x));
        Assert.All(epoch, b => Assert.Equal(b.Select(p => p.Length).Order(), b.Select(p => p.Length)));
        Assert.Equal(epoch.SelectMany(b => b), new PieceBatches(pieces, 16, 7).Epoch(3).SelectMany(b => b));
        Assert.NotEqual(epoch.SelectMany(b => b), batches.Epoch(4).SelectMany(b => b));
    }

    [Fact]
    public void Random_spans_are_cut_from_the_training_text_with_the_pieces_lengths_and_change_every_epoch()
    {
        var pieces = Pieces(500, 2);
        var stream = pieces.SelectMany(p => p).ToArray();
        var lengths = pieces.Select(p => p.Length).ToHashSet();
        var batches = new PieceBatches(pieces, batchSize: 16, seed: 7, randomSpans: 0.5);

        var epoch = batches.Epoch(0).SelectMany(b => b).ToList();
        var real = pieces.ToHashSet(ReferenceEqualityComparer.Instance);
        var spans = epoch.Where(p => !real.Contains(p)).ToList();

        Assert.Equal(batches.BatchesPerEpoch, batches.Epoch(0).Count);
        Assert.Equal(pieces.Count, epoch.Count(real.Contains));
        Assert.Equal(250, spans.Count);
        foreach (var span in spans)
        {
            Assert.Contains(span.Length, lengths);
            int start = Array.IndexOf(stream, span[0]);
            Assert.Equal(stream[start..(start + span.Length)], span);
        }
        Assert.Contains(spans, s => !pieces.Any(p => p.SequenceEqual(s)));   // not just copies of pieces
        var next = batches.Epoch(1).SelectMany(b => b).Where(p => !real.Contains(p)).Select(s => string.Join(",", s)).ToHashSet();
        Assert.True(spans.Count(s => next.Contains(string.Join(",", s))) < spans.Count / 2);
    }
}
