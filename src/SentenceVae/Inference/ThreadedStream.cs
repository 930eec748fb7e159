using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace SentenceVae.Inference;

/// <summary>
/// Runs a synchronous generation loop on its own thread and hands its items to an async consumer.
/// TorchSharp's dispose scopes and no-grad state are per thread, and an async iterator may resume on
/// another thread after each await, so the torch work must stay on one thread. The loop stops at the
/// next item when the token is cancelled or the consumer stops enumerating (e.g. breaks out early).
/// </summary>
internal static class ThreadedStream
{
    public static async IAsyncEnumerable<T> Run<T>(Func<IEnumerable<T>> loop, string name, [EnumeratorCancellation] CancellationToken cancel = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var channel = Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var producer = new Thread(() =>
        {
            try
            {
                foreach (var item in loop())
                {
                    if (stop.IsCancellationRequested) break;
                    channel.Writer.TryWrite(item);
                }
                channel.Writer.Complete();
            }
            catch (Exception e) { channel.Writer.Complete(e); }
        }) { IsBackground = true, Name = name };
        producer.Start();
        try
        {
            await foreach (var item in channel.Reader.ReadAllAsync(cancel)) yield return item;
        }
        finally
        {
            stop.Cancel();          // a consumer that left early stops the loop too
            producer.Join();        // and the torch work is over before the caller disposes the model
        }
    }
}
