using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;

namespace SentenceVae.PeerBench;

/// <summary>
/// llama.cpp's decode step through LLamaSharp: <c>rows</c> sequences, each prefilled with <c>context</c> random
/// tokens (not timed), then one token per sequence per step, every step's logits computed as ours are; after a
/// timed run the positions it wrote are removed, so every run steps at the same context.
/// </summary>
public sealed class LlamaCppSteps : IDisposable
{
    private readonly LLamaContext context;
    private readonly LLamaBatch batch = new();
    private readonly int rows, past;
    private readonly Random rng = new(1);

    /// <summary>A context over <paramref name="weights"/> for <paramref name="rows"/> sequences of <paramref name="past"/> tokens plus <paramref name="steps"/>.</summary>
    public LlamaCppSteps(LLamaWeights weights, ModelParams parameters, int rows, int past, int steps)
    {
        this.rows = rows;
        this.past = past;
        var p = new ModelParams(parameters.ModelPath)
        {
            ContextSize = (uint)(rows * (past + steps + 64)), SeqMax = (uint)rows, BatchSize = 512, UBatchSize = 512,
            Threads = parameters.Threads, BatchThreads = parameters.Threads, GpuLayerCount = 0,
        };
        context = weights.CreateContext(p);
        for (int s = 0; s < rows; s++)
            for (int start = 0; start < past; start += 512)
            {
                batch.Clear();
                int end = Math.Min(past, start + 512);
                for (int pos = start; pos < end; pos++) batch.Add(Token(), pos, (LLamaSeqId)s, pos == past - 1);
                Check(context.Decode(batch));
            }
    }

    private LLamaToken Token() => (LLamaToken)rng.Next(256, 50000);

    private static void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
    }

    /// <summary>Seconds for <paramref name="steps"/> steps of every sequence (then the positions written are removed).</summary>
    public double Time(int steps)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            batch.Clear();
            for (int s = 0; s < rows; s++) batch.Add(Token(), past + i, (LLamaSeqId)s, true);
            Check(context.Decode(batch));
        }
        double seconds = clock.Elapsed.TotalSeconds;
        for (int s = 0; s < rows; s++) context.NativeHandle.MemorySequenceRemove((LLamaSeqId)s, past, -1);
        return seconds;
    }

    /// <summary>Frees the context.</summary>
    public void Dispose() => context.Dispose();
}
