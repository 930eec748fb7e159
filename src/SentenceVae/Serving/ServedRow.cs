using System.Threading.Channels;
using SentenceVae.Inference;

namespace SentenceVae.Serving;

/// <summary>
/// One accepted completion request on the service's worker: the engine's row (<see cref="Decode"/>: the
/// prompt as the model reads it, sampling, budget), the text written so far (through the stop-sequence
/// filter) and the channel its caller reads updates from.
/// </summary>
internal sealed class ServedRow
{
    private readonly Channel<CompletionUpdate> updates = Channel.CreateUnbounded<CompletionUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    private readonly StopSequenceFilter filter;

    /// <summary>A row for <paramref name="request"/>; <paramref name="decode"/> makes its engine row (which asks this row whether it is halted).</summary>
    public ServedRow(CompletionRequest request, ServedModel model, int promptTokens, int maxTokens, CancellationToken cancel, Func<Func<bool>, DecodeRow> decode)
    {
        Request = request;
        Model = model;
        PromptTokens = promptTokens;
        MaxTokens = maxTokens;
        Cancel = cancel;
        filter = new StopSequenceFilter(request.Stop);
        Decode = decode(() => Halted);
    }

    public CompletionRequest Request { get; }
    public ServedModel Model { get; }
    /// <summary>The row the model's engine runs.</summary>
    public DecodeRow Decode { get; }
    public int PromptTokens { get; }
    public int MaxTokens { get; }
    public CancellationToken Cancel { get; }
    /// <summary>A token model's text so far, for turning ids into text that never splits a character.</summary>
    public IncrementalDecoder? Text { get; set; }
    /// <summary>Text tokens written so far.</summary>
    public int Tokens { get; private set; }
    /// <summary>Steps (pieces or tokens) written so far.</summary>
    public int Steps { get; private set; }
    public FinishReason? Finish { get; private set; }

    /// <summary>When the row's time is up (the server's per-request limit, counted from its arrival): once started it then ends by length with what it wrote.</summary>
    public DateTimeOffset Deadline { get; set; } = DateTimeOffset.MaxValue;
    /// <summary>The clock <see cref="Deadline"/> is read on.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;
    /// <summary>True once <see cref="Deadline"/> has passed.</summary>
    public bool OutOfTime => Time.GetUtcNow() >= Deadline;

    /// <summary>True once the row needs no more output: finished, its caller gone, or its time up.</summary>
    public bool Halted => Finish is not null || Cancel.IsCancellationRequested || OutOfTime || Model.Ending;

    public ChannelReader<CompletionUpdate> Updates => updates.Reader;

    /// <summary>Adds one step's text; ends the row at a stop sequence or when its token budget is spent.</summary>
    public void Add(string text, int tokens)
    {
        if (Finish is not null) return;
        Tokens += tokens;
        Steps++;
        var (shown, stopped) = filter.Push(text);
        updates.Writer.TryWrite(new CompletionUpdate(shown, tokens));
        if (stopped) End(FinishReason.Stop);
        else if (Tokens >= MaxTokens) End(FinishReason.Length);
    }

    public void End(FinishReason reason)
    {
        if (Finish is not null) return;
        string rest = filter.Flush();             // held back as a possible stop sequence's start, and it was not one
        if (rest.Length > 0) updates.Writer.TryWrite(new CompletionUpdate(rest, 0));
        Finish = reason;
        updates.Writer.TryComplete();
    }

    /// <summary>Ends the row with an error its caller sees (a row already finished keeps its ending).</summary>
    public void Fail(Exception error)
    {
        if (Finish is not null) return;
        Finish = FinishReason.Stop;           // halted: the loop writes nothing more for it
        updates.Writer.TryComplete(error);
    }
}
