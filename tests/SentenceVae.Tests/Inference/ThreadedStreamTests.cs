using SentenceVae.Inference;

namespace SentenceVae.Tests.Inference;

public class ThreadedStreamTests
{
    [Fact]
    public async Task A_consumer_that_breaks_early_stops_and_ends_the_loop()
    {
        int produced = 0;
        bool loopEnded = false;
        IEnumerable<int> Endless()
        {
            try { while (true) yield return produced++; }
            finally { loopEnded = true; }
        }

        var received = new List<int>();
        await foreach (var item in ThreadedStream.Run(Endless, "test-stream"))
        {
            received.Add(item);
            if (received.Count == 3) break;
        }

        Assert.Equal([0, 1, 2], received);
        Assert.True(loopEnded);                 // the loop was left (and disposed) before the stream returned
        int after = produced;
        await Task.Delay(50);
        Assert.Equal(after, produced);
    }

    [Fact]
    public async Task Items_arrive_in_order_and_the_loops_exception_reaches_the_consumer()
    {
        IEnumerable<int> Failing()
        {
            yield return 1;
            yield return 2;
            throw new InvalidOperationException("boom");
        }

        var received = new List<int>();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var item in ThreadedStream.Run(Failing, "test-stream")) received.Add(item);
        });
        Assert.Equal("boom", e.Message);
        Assert.Equal([1, 2], received);
    }
}
