using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SentenceVae.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Evaluation;

/// <summary>
/// The decode kernel against libtorch on one projection (out × in, random weights): rows 1, 2, 4, 8;
/// the kernel in fp32 and bf16 on 1 and 2 threads; and a plain read of memory (<see cref="WeightRead"/>), the
/// bandwidth a weight-streaming kernel can hope for. Nothing else may run beside it.
/// </summary>
public static class KernelBench
{
    /// <summary>The timings (median of <paramref name="runs"/> after a warm-up) and a plain read's GB/s (<see cref="WeightRead"/>).</summary>
    /// <remarks>
    /// Every kernel is timed before any libtorch product: libtorch's OpenMP workers spin on the other core for a while
    /// after each of its parallel products, and a two-thread kernel timed right after one measured up to 1.5× slow.
    /// </remarks>
    public static (List<KernelTiming> Timings, double PlainReadGBPerS, double PackSeconds) Run(int outputs, int inputs, int runs = 5)
    {
        using var scope = NewDisposeScope();
        manual_seed(0);
        var weight = randn(outputs, inputs) * 0.02f;
        using var head = new DecodingHead(weight, null);
        double bytes = (double)outputs * inputs * sizeof(float);
        double plain;
        using (var read = new WeightRead()) plain = Statistics.Median(Enumerable.Range(0, 3).Select(_ => read.BytesPerSecond())) / 1e9;
        // One-time work before anything is timed: the kernels pack their weights when made.
        var packing = Stopwatch.StartNew();
        var kernels = new[] { WeightFormat.Float32, WeightFormat.BFloat16, WeightFormat.Int8 }
            .SelectMany(f => new[] { 1, 2 }.Select(t => new DecodeLinear(weight, null, f, t))).ToList();
        double packSeconds = packing.Elapsed.TotalSeconds;
        int[] rowCounts = [1, 2, 4, 8];
        var inputsByRows = rowCounts.ToDictionary(r => r, r => randn(r, inputs));
        var kernelMs = rowCounts.ToDictionary(r => r, r => kernels.Select(k => Median(runs, () => k.Forward(inputsByRows[r]).Dispose())).ToList());
        var libtorchMs = rowCounts.ToDictionary(r => r, r => Median(runs, () => head.Logits(inputsByRows[r]).Dispose()));
        var timings = new List<KernelTiming>();
        foreach (int rows in rowCounts)
        {
            double libtorch = libtorchMs[rows];
            timings.Add(new KernelTiming("libtorch", rows, get_num_threads(), libtorch, bytes / libtorch / 1e6, 1));
            for (int k = 0; k < kernels.Count; k++)
            {
                double ms = kernelMs[rows][k];
                timings.Add(new KernelTiming("kernel " + WeightFormats.Name(kernels[k].Format), rows, kernels[k].Threads, ms, kernels[k].WeightBytes / ms / 1e6, ms / libtorch));
            }
        }
        return (timings, plain, packSeconds);
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
