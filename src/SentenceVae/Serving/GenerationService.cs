using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace SentenceVae.Serving;

/// <summary>Limits of a <see cref="GenerationService"/>.</summary>
public sealed record GenerationServiceOptions
{
    /// <summary>Most requests run together as one batch.</summary>
    public int MaxBatch { get; init; } = 16;
    /// <summary>Most requests waiting to start; one more is refused as <see cref="ServingError.Busy"/>.</summary>
    public int QueueCapacity { get; init; } = 256;
    /// <summary>max_tokens when a request gives none (a token model's is also capped by the room its prompt leaves).</summary>
    public int DefaultMaxTokens { get; init; } = 256;
    /// <summary>Most max_tokens one completion may ask for (besides the model's room); a larger value is a 400 naming it.</summary>
    public int MaxCompletionTokens { get; init; } = 4096;
    /// <summary>Most inputs in one embeddings request.</summary>
    public int MaxEmbeddingInputs { get; init; } = 2048;
    /// <summary>Most text tokens over all inputs of one embeddings request.</summary>
    public int MaxEmbeddingTokens { get; init; } = 131072;
    /// <summary>When set, a completion still writing this long after it arrived ends there (finish reason "length", with the text so far).</summary>
    public TimeSpan? RequestTimeout { get; init; }
}

/// <summary>
/// Owns the served models and runs all their work on one worker thread (TorchSharp's dispose scopes and
/// no-grad state are per thread); any thread submits requests. Requests that are waiting when the worker
/// becomes free run together as one batch (same model, at most <see cref="GenerationServiceOptions.MaxBatch"/>,
/// as long as the batch fits the positions), each row with its own sampling options, budget and
/// cancellation; a request that arrives while a batch runs waits for the next one. When
/// <see cref="GenerationServiceOptions.QueueCapacity"/> requests already wait, a request is refused at once
/// (<see cref="ServingError.Busy"/>). Both the HTTP server and the Microsoft.Extensions.AI clients use it;
/// it is safe for concurrent calls.
/// </summary>
public sealed class GenerationService : IDisposable
{
    private readonly GenerationServiceOptions options;
    private readonly Channel<object> queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread worker;
    private readonly object modelsLock = new();
    private List<ServedModel> models = [];
    private int waiting, running;

    /// <summary>Starts the worker; add models with <see cref="Add"/>.</summary>
    public GenerationService(GenerationServiceOptions? options = null)
    {
        this.options = options ?? new GenerationServiceOptions();
        if (this.options.MaxBatch < 1 || this.options.QueueCapacity < 1 || this.options.DefaultMaxTokens < 1 || this.options.MaxCompletionTokens < 1
            || this.options.MaxEmbeddingInputs < 1 || this.options.MaxEmbeddingTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxBatch, QueueCapacity, DefaultMaxTokens, MaxCompletionTokens, MaxEmbeddingInputs and MaxEmbeddingTokens must be at least 1");
        worker = new Thread(Work) { IsBackground = true, Name = "svae-serve" };
        worker.Start();
    }

    /// <summary>Counts of what the service has done so far.</summary>
    public ServiceStatistics Statistics { get; } = new();

    /// <summary>Requests waiting to start (completions and embedding jobs).</summary>
    public int Waiting => Volatile.Read(ref waiting);

    /// <summary>Rows of the batch running now (0 when idle).</summary>
    public int Running => Volatile.Read(ref running);

    /// <summary>Raised on the worker when a batch starts: the model's name and the batch's rows.</summary>
    public event Action<string, int>? BatchStarted;

    /// <summary>The limits in force.</summary>
    public GenerationServiceOptions Options => options;

    /// <summary>The models served, in the order added.</summary>
    public IReadOnlyList<ServedModel> Models => models;

    /// <summary>Serves one more model (the service disposes it). Names must be unique.</summary>
    public void Add(ServedModel model)
    {
        lock (modelsLock)
        {
            if (models.Any(m => m.Name == model.Name)) throw new ArgumentException($"a model named '{model.Name}' is already served");
            models = [.. models, model];
        }
    }

    /// <summary>The served model of that name; <see cref="ServingError.ModelNotFound"/> otherwise.</summary>
    public ServedModel Find(string name) => models.FirstOrDefault(m => m.Name == name)
        ?? throw new ServingException(ServingError.ModelNotFound, $"the model '{name}' does not exist (served: {string.Join(", ", models.Select(m => m.Name))})", "model", "model_not_found");

    /// <summary>
    /// Checks and queues a completion; its updates are read from the returned stream. Throws
    /// <see cref="ServingException"/> at once for a bad request or a full queue. Cancelling
    /// <paramref name="cancel"/> ends the row at its next step.
    /// </summary>
    public CompletionStream Submit(CompletionRequest request, CancellationToken cancel = default)
    {
        request.Validate();
        if (request.MaxTokens > options.MaxCompletionTokens)
            throw ServingException.Invalid($"max_tokens {request.MaxTokens} exceeds this server's limit of {options.MaxCompletionTokens} tokens per completion", "max_tokens", "max_tokens_exceeded");
        var row = Find(request.Model).Prepare(request, Math.Min(options.DefaultMaxTokens, options.MaxCompletionTokens), cancel);
        if (options.RequestTimeout is { } limit) row.Deadline = DateTime.UtcNow + limit;
        Enqueue(row);
        return new CompletionStream(row);
    }

    /// <summary>Runs a completion to its end.</summary>
    public async Task<CompletionResult> CompleteAsync(CompletionRequest request, CancellationToken cancel = default)
    {
        var stream = Submit(request, cancel);
        var text = new System.Text.StringBuilder();
        await foreach (var update in stream.ReadAllAsync(cancel)) text.Append(update.Text);
        return new CompletionResult(text.ToString(), stream.FinishReason!.Value, stream.Usage);
    }

    /// <summary>Sentence vectors of <paramref name="inputs"/> from a model with a Sentence Encoder (see <see cref="ServedSentenceLlm"/>).</summary>
    public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<string> inputs, CancellationToken cancel = default)
    {
        var served = Find(model);
        if (!served.CanEmbed) throw served.EmbedUnsupported();
        if (inputs.Count == 0) throw ServingException.Invalid("input must hold at least one text", "input");
        if (inputs.Count > options.MaxEmbeddingInputs)
            throw ServingException.Invalid($"input holds {inputs.Count} texts; this server embeds at most {options.MaxEmbeddingInputs} per request", "input", "too_many_inputs");
        // Counted here, on the caller's thread, before anything is queued (a text longer than the budget could hold is not tokenized).
        long tokens = 0;
        foreach (var text in inputs)
        {
            if (text.Length > (long)options.MaxEmbeddingTokens * 16) tokens = long.MaxValue;
            else tokens += served.Tokenizer.CountTokens(text);
            if (tokens > options.MaxEmbeddingTokens)
                throw ServingException.Invalid($"input holds more than {options.MaxEmbeddingTokens} tokens; this server embeds at most that many per request", "input", "too_many_tokens");
        }
        var job = new EmbeddingJob(served, inputs, cancel);
        Enqueue(job);
        return job.Result.Task;
    }

    private void Enqueue(object item)
    {
        if (Interlocked.Increment(ref waiting) > options.QueueCapacity)
        {
            Interlocked.Decrement(ref waiting);
            Statistics.Count(ref Statistics.busy);
            throw new ServingException(ServingError.Busy, $"the server is busy: {options.QueueCapacity} requests are waiting; try again shortly", null, "server_busy");
        }
        if (!queue.Writer.TryWrite(item))
        {
            Interlocked.Decrement(ref waiting);
            throw new ObjectDisposedException(nameof(GenerationService));
        }
    }

    private void Work()
    {
        var pending = new List<object>();
        ServedModel? last = null;
        while (true)
        {
            if (pending.Count == 0 && !queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) return;
            while (queue.Reader.TryRead(out var item)) pending.Add(item);
            if (pending.Count == 0) continue;
            // Models take turns: the oldest work of another model than the one that just ran goes first,
            // so one model's long batches cannot starve another model's queue.
            var next = pending.FirstOrDefault(item => ModelOf(item) != last) ?? pending[0];
            last = ModelOf(next);
            if (next is EmbeddingJob job)
            {
                pending.Remove(job);
                Interlocked.Decrement(ref waiting);
                job.Run();
                continue;
            }
            var first = (ServedRow)next;
            var batch = new List<ServedRow>();
            foreach (var row in pending.OfType<ServedRow>().Where(r => r.Model == first.Model))
                if (batch.Count < options.MaxBatch && (batch.Count == 0 || first.Model.Fits(batch, row))) batch.Add(row);
            pending.RemoveAll(item => item is ServedRow r && batch.Contains(r));
            Interlocked.Add(ref waiting, -batch.Count);
            var live = batch.Where(r => !r.Cancel.IsCancellationRequested).ToList();
            foreach (var gone in batch.Except(live)) gone.Fail(new OperationCanceledException(gone.Cancel));
            if (live.Count > 0)
            {
                Statistics.Batch(live.Count);
                BatchStarted?.Invoke(first.Model.Name, live.Count);
                Volatile.Write(ref running, live.Count);
                try { first.Model.Run(live); }
                catch (Exception e) { foreach (var row in live) row.Fail(e); }
                finally { Volatile.Write(ref running, 0); }
            }
            foreach (var row in batch) Statistics.Count(ref row.Cancel.IsCancellationRequested ? ref Statistics.cancelled : ref Statistics.completed);
        }
    }

    private static ServedModel ModelOf(object item) => item is ServedRow row ? row.Model : ((EmbeddingJob)item).Model;

    /// <summary>Stops taking requests, lets the running batch end, and frees the models.</summary>
    public void Dispose()
    {
        queue.Writer.TryComplete();
        worker.Join();
        foreach (var model in models) model.Dispose();
    }

    private sealed class EmbeddingJob(ServedModel model, IReadOnlyList<string> inputs, CancellationToken cancel)
    {
        public ServedModel Model => model;
        public TaskCompletionSource<EmbeddingResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Run()
        {
            if (cancel.IsCancellationRequested) { Result.TrySetCanceled(cancel); return; }
            try { Result.TrySetResult(model.Embed(inputs, cancel)); }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested) { Result.TrySetCanceled(cancel); }
            catch (Exception e) { Result.TrySetException(e); }
        }
    }
}

/// <summary>What a <see cref="GenerationService"/> has done: completions finished and cancelled, batches run, requests refused as busy.</summary>
public sealed class ServiceStatistics
{
    internal int completed, cancelled, batches, rows, largest, busy;

    /// <summary>Completions that ran to their end.</summary>
    public int Completed => Volatile.Read(ref completed);
    /// <summary>Completions whose caller went away (cancelled or disconnected) before the end.</summary>
    public int Cancelled => Volatile.Read(ref cancelled);
    /// <summary>Batches run.</summary>
    public int Batches => Volatile.Read(ref batches);
    /// <summary>Rows over all batches (÷ <see cref="Batches"/>: the mean batch size).</summary>
    public int Rows => Volatile.Read(ref rows);
    /// <summary>The largest batch run.</summary>
    public int LargestBatch => Volatile.Read(ref largest);
    /// <summary>Requests refused because the queue was full.</summary>
    public int Busy => Volatile.Read(ref busy);

    internal void Count(ref int counter) => Interlocked.Increment(ref counter);

    internal void Batch(int size)
    {
        Interlocked.Increment(ref batches);
        Interlocked.Add(ref rows, size);
        int seen;
        while (size > (seen = Volatile.Read(ref largest)) && Interlocked.CompareExchange(ref largest, size, seen) != seen) { }
    }
}

/// <summary>The updates of one submitted completion; <see cref="FinishReason"/> and <see cref="Usage"/> are set once they are all read.</summary>
public sealed class CompletionStream
{
    private readonly ServedRow row;

    internal CompletionStream(ServedRow row) => this.row = row;

    /// <summary>Text tokens of the prompt as the model reads it.</summary>
    public int PromptTokens => row.PromptTokens;
    /// <summary>The text-token budget in force (the request's max_tokens or the default).</summary>
    public int MaxTokens => row.MaxTokens;
    /// <summary>Why the completion ended (null until it has).</summary>
    public FinishReason? FinishReason => row.Finish;
    /// <summary>Tokens read and written so far.</summary>
    public CompletionUsage Usage => new(row.PromptTokens, row.Tokens);

    /// <summary>The updates as they are written: one per piece (sentence-level model) or token (token model).</summary>
    public async IAsyncEnumerable<CompletionUpdate> ReadAllAsync([EnumeratorCancellation] CancellationToken cancel = default)
    {
        await foreach (var update in row.Updates.ReadAllAsync(cancel)) yield return update;
    }
}
