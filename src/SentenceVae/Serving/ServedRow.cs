using System.Threading.Channels;
using SentenceVae.Inference;

namespace SentenceVae.Serving;

/// <summary>
/// One accepted completion request: the engine's row it runs as (<see cref="Decode"/>: the prompt as the
/// model reads it, sampling, the one budget and the one ending) and the sink that row writes to — the
/// text so far through the stop-sequence filter, into the channel its caller reads updates from. The
/// request's limits (its caller gone, its time up, a shutdown) are read by the <see cref="Scheduler"/>,
/// which halts the row; the engine never asks this layer anything.
/// </summary>
internal sealed class ServedRow : IRowSink
{
    private readonly Channel<CompletionUpdate> updates = Channel.CreateUnbounded<CompletionUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    private readonly StopSequenceFilter filter;

    /// <summary>The request <paramref name="request"/> run as <paramref name="decode"/> (which writes to this row from now on).</summary>
    public ServedRow(CompletionRequest request, ServedModel model, DecodeRow decode, int promptTokens, CancellationToken cancel)
    {
        Request = request;
        Model = model;
        Decode = decode;
        PromptTokens = promptTokens;
        Cancel = cancel;
        filter = new StopSequenceFilter(request.Stop);
        decode.Sink = this;
    }

    public CompletionRequest Request { get; }
    public ServedModel Model { get; }
    /// <summary>The row the model's engine runs.</summary>
    public DecodeRow Decode { get; }
    public int PromptTokens { get; }
    /// <summary>The text-token budget (the engine's row counts against it).</summary>
    public int MaxTokens => Decode.MaxTokens;
    public CancellationToken Cancel { get; }
    /// <summary>A token model's text so far, for turning ids into text that never splits a character.</summary>
    public IncrementalDecoder? Text { get; set; }
    /// <summary>Text tokens its caller was sent (usage; a token model's EOS is not text).</summary>
    public int Tokens { get; private set; }
    /// <summary>Why it ended, once its caller has everything (null while it runs, or when it ended with an error).</summary>
    public FinishReason? Finish { get; private set; }
    private bool closed;

    /// <summary>When the row's time is up (the server's per-request limit, counted from its arrival): once started it then ends by length with what it wrote.</summary>
    public DateTimeOffset Deadline { get; set; } = DateTimeOffset.MaxValue;
    /// <summary>The clock <see cref="Deadline"/> is read on.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;
    /// <summary>True once <see cref="Deadline"/> has passed.</summary>
    public bool OutOfTime => Time.GetUtcNow() >= Deadline;

    /// <summary>True once nobody needs more of it: its caller gone, its time up, or the service ending every row.</summary>
    public bool ShouldHalt => Cancel.IsCancellationRequested || OutOfTime || Model.Ending;

    public ChannelReader<CompletionUpdate> Updates => updates.Reader;

    /// <summary>One step's ids become text for the caller; false at a stop sequence (the engine ends the row as stopped).</summary>
    bool IRowSink.Write(DecodeRow row, int[] ids)
    {
        if (closed) return false;
        Tokens += ids.Length;
        var (shown, stopped) = filter.Push(Model.Text(this, ids));
        updates.Writer.TryWrite(new CompletionUpdate(shown, ids.Length));
        return !stopped;
    }

    /// <summary>The engine ended the row: its caller gets the held-back text and why.</summary>
    void IRowSink.End(DecodeRow row)
    {
        switch (row.End)
        {
            case DecodeEnd.Failed: Fail(Model.RowFailed()); break;
            case DecodeEnd.Stop: Close(FinishReason.Stop); break;
            default: Close(FinishReason.Length); break;         // budget, positions or time spent; halted (a caller gone reads nothing more)
        }
    }

    private void Close(FinishReason reason)
    {
        if (closed) return;
        closed = true;
        string rest = filter.Flush();             // held back as a possible stop sequence's start, and it was not one
        if (rest.Length > 0) updates.Writer.TryWrite(new CompletionUpdate(rest, 0));
        Finish = reason;
        updates.Writer.TryComplete();
    }

    /// <summary>Ends the request with an error its caller sees (one already ended keeps its ending).</summary>
    public void Fail(Exception error)
    {
        if (closed) return;
        closed = true;
        updates.Writer.TryComplete(error);
    }
}
