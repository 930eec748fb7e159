using SentenceVae.Modules.Kernels;

namespace SentenceVae.Tests.Modules;

public class KernelTeamTests
{
    [Fact]
    public void EveryPartRunsOnceEvenWhenSeveralThreadsCallAtOnce()
    {
        var team = KernelTeam.For(2);
        var counts = new int[4, 2000];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, caller =>
        {
            for (int call = 0; call < 2000; call++)
                team.Run(2, part => Interlocked.Increment(ref counts[caller, call]));   // a busy team sends the others to the thread pool
        });
        foreach (var count in counts) Assert.Equal(2, count);
    }

    [Fact]
    public void APartsFailureReachesTheCallerAndTheTeamGoesOn()
    {
        var team = KernelTeam.For(2);
        var failure = Assert.Throws<AggregateException>(() => team.Run(2, part => { if (part == 1) throw new InvalidOperationException("part 1"); }));
        Assert.Contains("part 1", failure.InnerException!.Message);
        int ran = 0;
        team.Run(2, _ => Interlocked.Increment(ref ran));
        Assert.Equal(2, ran);
    }

    [Fact]
    public async Task WorkersThatSleptWakeForTheNextCall()
    {
        var team = KernelTeam.For(2);
        team.Run(2, _ => { });
        await Task.Delay(50);                                                // past the spin: the worker sleeps
        var ran = new int[2];
        var call = Task.Run(() => team.Run(2, part => Interlocked.Increment(ref ran[part])));   // returns only when the woken worker has run its part
        await call.WaitAsync(TimeSpan.FromSeconds(30));                     // a worker that never woke would time out here, not hang the run
        Assert.Equal([1, 1], ran);
    }
}
