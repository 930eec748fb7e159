using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SentenceVae.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Evaluation;

/// <summary>One timing of <see cref="KernelBench"/>: a way of computing a decode-step projection, its time and the bandwidth it reached.</summary>
public sealed record KernelTiming(string Method, int Rows, int Threads, double Ms, double GBPerS, double TimeVsLibtorch);

/// <summary>
/// The decode kernel against libtorch on one projection (out × in, random weights): rows 1, 2, 4, 8;
/// the kernel in fp32 and bf16 on 1 and 2 threads; and a plain one-thread read of the same fp32 bytes, the
/// bandwidth a weight-streaming kernel can hope for. Nothing else may run beside it.
/// </summary>
public static class KernelBench
{
    /// <summary>The timings (median of <paramref name="runs"/> after a warm-up) and the plain read's GB/s.</summary>
    public static (List<KernelTiming> Timings, double PlainReadGBPerS) Run(int outputs, int inputs, int runs = 5)
    {
        using var scope = NewDisposeScope();
        manual_seed(0);
        var weight = randn(outputs, inputs) * 0.02f;
        using var head = new DecodingHead(weight, null);
        double bytes = (double)outputs * inputs * sizeof(float);
        var plain = weight.data<float>().ToArray();
        double plainMs = Median(runs, () =>
        {
            var acc = Vector256<float>.Zero;
            ref float start = ref MemoryMarshal.GetArrayDataReference(plain);
            for (int i = 0; i + 8 <= plain.Length; i += 8) acc += Vector256.LoadUnsafe(ref start, (nuint)i);
            GC.KeepAlive(acc);
        });
        var timings = new List<KernelTiming>();
        var kernels = new[] { WeightFormat.Float32, WeightFormat.BFloat16 }
            .SelectMany(f => new[] { 1, 2 }.Select(t => new DecodeLinear(weight, null, f, t))).ToList();
        foreach (int rows in new[] { 1, 2, 4, 8 })
        {
            var x = randn(rows, inputs);
            double libtorch = Median(runs, () => head.Logits(x).Dispose());
            timings.Add(new KernelTiming("libtorch", rows, get_num_threads(), libtorch, bytes / libtorch / 1e6, 1));
            foreach (var kernel in kernels)
            {
                double ms = Median(runs, () => kernel.Forward(x).Dispose());
                timings.Add(new KernelTiming(kernel.Format == WeightFormat.Float32 ? "kernel fp32" : "kernel bf16", rows, kernel.Threads, ms, kernel.WeightBytes / ms / 1e6, ms / libtorch));
            }
        }
        return (timings, bytes / plainMs / 1e6);
    }

    private static double Median(int runs, Action run)
    {
        run();
        return Statistics.Median(Enumerable.Range(0, runs).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            run();
            return clock.Elapsed.TotalMilliseconds;
        }));
    }
}
