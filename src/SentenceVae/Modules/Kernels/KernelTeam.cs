namespace SentenceVae.Modules.Kernels;

/// <summary>
/// The threads a decode step's kernels split their work over: the calling thread and dedicated workers that
/// spin between calls (as ggml's thread pool does), so handing out a projection costs a write and a read of
/// shared counters instead of a thread-pool wake-up. A step makes ~7 parallel calls per layer plus the head —
/// over 80 at OPT-125M — and with the thread pool each paid its wake-up. Workers that find nothing to do for
/// <see cref="SpinTicks"/> go to sleep and are woken by the next call, so an idle process does not burn a core.
/// One caller at a time: a call that finds the team busy (another thread's step) runs on the thread pool.
/// </summary>
internal sealed class KernelTeam
{
    private static readonly object create = new();
    private static KernelTeam? shared;

    private readonly object gate = new();                 // held by the caller whose work the team runs
    private readonly object sleep = new();                // workers that stopped spinning wait on it
    private readonly int workers;
    private Action<int>? body;
    private int parts;
    private long generation;                              // one more per call
    private int pending;                                  // workers yet to finish the current call
    private int sleepers;
    private Exception? failure;

    /// <summary>False sends every call to the thread pool (for measuring what the team gives).</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>How long a worker spins for the next call before it sleeps (~1 ms: longer than a step's gaps between calls).</summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 1000;

    private KernelTeam(int workers)
    {
        this.workers = workers;
        for (int i = 0; i < workers; i++)
            new Thread(Work) { IsBackground = true, Name = $"svae-kernel-{i + 1}" }.Start(i + 1);
    }

    /// <summary>The process's team for calls of up to <paramref name="threads"/> parts (grown once to the most asked; never more than the cores).</summary>
    public static KernelTeam For(int threads)
    {
        int wanted = Math.Min(threads, Environment.ProcessorCount) - 1;
        var team = Volatile.Read(ref shared);
        if (team is not null && team.workers >= wanted) return team;
        lock (create)
        {
            if (shared is null || shared.workers < wanted) shared = new KernelTeam(Math.Max(1, wanted));   // an outgrown team's workers sleep on
            return shared;
        }
    }

    /// <summary>Runs <paramref name="body"/>(0 … <paramref name="count"/>−1), part 0 on the calling thread, and returns when all are done.</summary>
    public void Run(int count, Action<int> body)
    {
        if (count <= 1)
        {
            if (count == 1) body(0);
            return;
        }
        if (!Enabled || count - 1 > workers || !Monitor.TryEnter(gate))
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = count }, body);
            return;
        }
        try
        {
            this.body = body;
            parts = count;
            failure = null;
            Volatile.Write(ref pending, workers);
            Interlocked.Increment(ref generation);                                      // publishes body and parts
            if (Volatile.Read(ref sleepers) > 0) lock (sleep) Monitor.PulseAll(sleep);
            try { body(0); }
            catch (Exception e) { failure ??= e; }
            var spin = new SpinWait();
            while (Volatile.Read(ref pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
            this.body = null;
            if (failure is { } f) throw new AggregateException(f);
        }
        finally { Monitor.Exit(gate); }
    }

    private void Work(object? index)
    {
        int me = (int)index!;
        long seen = 0;
        while (true)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            while (Volatile.Read(ref generation) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(32); continue; }
                lock (sleep)
                {
                    Interlocked.Increment(ref sleepers);
                    while (Volatile.Read(ref generation) == seen) Monitor.Wait(sleep);
                    Interlocked.Decrement(ref sleepers);
                }
            }
            seen = Volatile.Read(ref generation);
            try { if (me < parts) body!(me); }
            catch (Exception e) { Interlocked.CompareExchange(ref failure, e, null); }
            Interlocked.Decrement(ref pending);
        }
    }
}
