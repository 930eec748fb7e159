using System.Diagnostics;
using System.Text;
using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// What reading weights once from memory costs on this host, measured beside the timings it bounds: a plain
/// vectorised read of a buffer far larger than any cache (512 MiB, in huge pages where the kernel grants
/// them), on one thread and on two (the faster counts — the best a weight-streaming kernel could do). Timed
/// between a benchmark's runs, not once before them: on a shared host the bandwidth moved by 1.5× within
/// minutes (a 2-thread read of 501 MB took 7.2–14.0 ms across runs on one day), so a bound measured
/// apart from its step is not comparable with it.
/// </summary>
public sealed unsafe class WeightRead : IDisposable
{
    private readonly float* buffer;
    private readonly long floats;

    /// <summary>A buffer of <paramref name="bytes"/>, written once (so its pages exist before any timing).</summary>
    public WeightRead(long bytes = 512L << 20)
    {
        floats = bytes / sizeof(float) / 16 * 16;
        const int hugePage = 2 << 20;
        buffer = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), hugePage);
        if (OperatingSystem.IsLinux())
        {
            try { _ = Madvise((nint)buffer, (nuint)(floats * sizeof(float)), 14); }   // MADV_HUGEPAGE; a refusal only costs speed
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        }
        for (long i = 0; i < floats; i++) buffer[i] = i % 7;
        Read(1);
        Read(2);
    }

    /// <summary>Bytes per second of the faster of a one- and a two-thread read, now.</summary>
    public double BytesPerSecond() => floats * sizeof(float) / Math.Min(Read(1), Read(2));

    /// <summary>Seconds to read the buffer once on <paramref name="threads"/> threads.</summary>
    public double Read(int threads)
    {
        long block = (floats / threads + 15) / 16 * 16;
        var sums = new float[threads];
        var clock = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var a = System.Runtime.Intrinsics.Vector256<float>.Zero;
            var b = a;
            long end = Math.Min(floats, (t + 1) * block);
            for (long i = t * block; i < end; i += 16)
            {
                a += System.Runtime.Intrinsics.Vector256.Load(buffer + i);
                b += System.Runtime.Intrinsics.Vector256.Load(buffer + i + 8);
            }
            sums[t] = System.Runtime.Intrinsics.Vector256.Sum(a + b);
        });
        double seconds = clock.Elapsed.TotalSeconds;
        GC.KeepAlive(sums);
        return seconds;
    }

    /// <summary>Frees the buffer.</summary>
    public void Dispose() => System.Runtime.InteropServices.NativeMemory.AlignedFree(buffer);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);
}
