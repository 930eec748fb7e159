using System.Runtime.CompilerServices;
using System.Threading.Channels;
using SentenceVae.Inference;

namespace SentenceVae.Serving;

/// <summary>Limits of a <see cref="GenerationService"/>.</summary>
public sealed record GenerationServiceOptions
{
    /// <summary>Most requests one model runs at once (the engine's rows); more wait their turn.</summary>
    public int MaxBatch { get; init; } = 32;
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
    /// <summary>
    /// When set, a completion still writing this long after it arrived ends there (finish reason "length",
    /// with the text so far); one that never started by then is refused (<c>queue_timeout</c>).
    /// </summary>
    public TimeSpan? RequestTimeout { get; init; }
    /// <summary>The clock request time limits are read on.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// Owns the served models and runs all their work on one worker thread (TorchSharp's dispose scopes and
/// no-grad state are per thread); any thread submits requests. Each model has a step-level decoding
/// engine (<see cref="IDecodeEngine"/>): a request joins its model's running engine between two steps
/// (after its prompt's prefill) and leaves when it ends — continuous batching, as llama.cpp's server
/// and vLLM schedule — each row with its own sampling options, budget and cancellation. A model runs
/// at most <see cref="GenerationServiceOptions.MaxBatch"/> rows; models with work take turns step by
/// step, so two models' streams advance together; an embedding job runs between two steps. When
/// <see cref="GenerationServiceOptions.QueueCapacity"/> requests already wait, a request is refused at once
/// (<see cref="ServingError.Busy"/>). Both the HTTP server and the Microsoft.Extensions.AI clients use it;
/// it is safe for concurrent calls.
/// </summary>
public sealed class GenerationService : IDisposable
{
    private readonly GenerationServiceOptions options;
    private readonly Channel<Work> queue = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
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
        worker = new Thread(Serve) { IsBackground = true, Name = "svae-serve" };
        worker.Start();
    }

    /// <summary>Counts of what the service has done so far.</summary>
    public ServiceStatistics Statistics { get; } = new();

    /// <summary>Requests waiting to start (completions and embedding jobs).</summary>
    public int Waiting => Volatile.Read(ref waiting);

    /// <summary>Rows running now, over all models (0 when idle).</summary>
    public int Running => Volatile.Read(ref running);

    /// <summary>Raised on the worker after each engine step: the model's name and the rows it stepped.</summary>
    public event Action<string, int>? Stepped;

    /// <summary>Raised on the worker when a request joins its model's engine: the model's name.</summary>
    public event Action<string>? Admitted;

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
        ?? throw new ServingException(ServingError.ModelNotFound, $"the model '{ServingException.Echo(name)}' does not exist (served: {string.Join(", ", models.Select(m => m.Name))})", "model", "model_not_found");

    /// <summary>
    /// Checks and queues a completion; its updates are read from the returned stream. Throws
    /// <see cref="ServingException"/> at once for a bad request or a full queue. Cancelling
    /// <paramref name="cancel"/> ends the row at its next step.
    /// </summary>
    public CompletionStream Submit(CompletionRequest request, CancellationToken cancel = default)
    {
        request.Validate();
        if (Volatile.Read(ref draining)) throw ShuttingDown();
        if (request.MaxTokens > options.MaxCompletionTokens)
            throw ServingException.Invalid($"max_tokens {request.MaxTokens} exceeds this server's limit of {options.MaxCompletionTokens} tokens per completion", "max_tokens", "max_tokens_exceeded");
        var row = Find(request.Model).Prepare(request, Math.Min(options.DefaultMaxTokens, options.MaxCompletionTokens), cancel);
        row.Time = options.Time;
        if (options.RequestTimeout is { } limit) row.Deadline = options.Time.GetUtcNow() + limit;
        Enqueue(new CompletionWork(row));
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
        if (Volatile.Read(ref draining)) throw ShuttingDown();
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
        var job = new EmbeddingWork(served.PrepareEmbedding(inputs, cancel), cancel);      // inputs read here, off the worker
        Enqueue(job);
        return job.Result.Task;
    }

    private static ServingException ShuttingDown() => new(ServingError.Busy, "the server is shutting down; send the request to another instance or retry", null, "shutting_down");

    private static ServingException TimedOutWaiting(TimeSpan limit) =>
        new(ServingError.Busy, $"the request waited its whole time limit ({limit.TotalSeconds:0.###} s) for a free row and never started; retry, or send it to another instance", null, "queue_timeout");

    /// <summary>
    /// Graceful shutdown: takes no new requests (they are refused as <c>shutting_down</c>), lets the
    /// running and waiting ones finish for up to <paramref name="timeout"/>, then ends the running ones by
    /// length with what they wrote (each stream still gets its final chunk) and answers the ones still
    /// waiting with <c>shutting_down</c>. Completes when no completion is left, or at the latest
    /// <see cref="DrainGrace"/> after the timeout whatever the worker is doing (true: nothing was left).
    /// </summary>
    public async Task<bool> DrainAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        Volatile.Write(ref draining, true);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while ((Waiting > 0 || Running > 0) && clock.Elapsed < timeout) await Task.Delay(20, cancel);
        foreach (var model in models) model.Ending = true;
        queue.Writer.TryWrite(new WakeWork());                      // an idle worker looks at its waiting rows once more
        while ((Waiting > 0 || Running > 0) && clock.Elapsed < timeout + DrainGrace) await Task.Delay(20, cancel);
        return Waiting == 0 && Running == 0;
    }

    /// <summary>How long past its timeout a drain waits for the worker to end what was left (one step, one embedding slice).</summary>
    public static readonly TimeSpan DrainGrace = TimeSpan.FromSeconds(5);

    /// <summary>True once <see cref="DrainAsync"/> has begun.</summary>
    public bool Draining => Volatile.Read(ref draining);

    private bool draining;

    private void Enqueue(Work item)
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

    // The worker: takes what was queued, then lets the scheduler admit, run an embedding slice and step one model.
    private void Serve()
    {
        var scheduler = new Scheduler(options, Statistics, () => Interlocked.Decrement(ref waiting), ShuttingDown, TimedOutWaiting);
        scheduler.Admitted += model => Admitted?.Invoke(model);
        scheduler.Stepped += (model, rows) => Stepped?.Invoke(model, rows);
        bool open = true;
        try
        {
            while (true)
            {
                if (scheduler.Idle && (!open || !queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())) return;
                while (queue.Reader.TryRead(out var item))
                    if (item is CompletionWork c) scheduler.Wait(c.Row);
                    else if (item is CountWork count) count.Live.TrySetResult(TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
                    else if (item is EmbeddingWork embedding) scheduler.Wait(embedding);
                if (queue.Reader.Completion.IsCompleted) open = false;
                scheduler.Admit();
                Volatile.Write(ref running, scheduler.Running);
                scheduler.RunEmbeddingSlice();
                scheduler.Step();
                Volatile.Write(ref running, scheduler.Running);
            }
        }
        finally
        {
            scheduler.Dispose();
            Volatile.Write(ref running, 0);
        }
    }

    /// <summary>
    /// Stops taking requests, lets the running and waiting requests end, and frees the models. A worker
    /// still busy after <see cref="DrainGrace"/> (a step that does not return) is left to the process's end
    /// with the models it uses, so disposing never hangs.
    /// </summary>
    public void Dispose()
    {
        queue.Writer.TryComplete();
        if (!worker.Join(Volatile.Read(ref draining) ? DrainGrace : Timeout.InfiniteTimeSpan)) return;
        foreach (var model in models) model.Dispose();
    }

    /// <summary>
    /// Tensors the worker thread holds now (made on it and not yet freed: models' caches, engine slots),
    /// read on the worker between two steps — for leak tests: after warm-up it must not grow with load.
    /// </summary>
    internal Task<long> WorkerLiveTensorsAsync()
    {
        var count = new CountWork(new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!queue.Writer.TryWrite(count)) throw new ObjectDisposedException(nameof(GenerationService));
        return count.Live.Task;
    }

    /// <summary>What the worker's queue holds: a completion to admit, an embedding job, or a count of its live tensors.</summary>
    internal abstract record Work;

    private sealed record CountWork(TaskCompletionSource<long> Live) : Work;

    private sealed record CompletionWork(ServedRow Row) : Work;

    /// <summary>Nothing to do: wakes an idle worker (a drain's end answers its waiting rows).</summary>
    private sealed record WakeWork : Work;

    /// <summary>An embedding request: its job, run a slice at a time, and the task its caller awaits.</summary>
    internal sealed record EmbeddingWork(EmbeddingJob Job, CancellationToken Cancel) : Work
    {
        public TaskCompletionSource<EmbeddingResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>One slice of the job; true once it has ended (done, cancelled or failed).</summary>
        public bool RunSlice()
        {
            if (Cancel.IsCancellationRequested) { Result.TrySetCanceled(Cancel); return true; }
            try
            {
                if (!Job.Step()) return false;
                Result.TrySetResult(Job.Result!);
            }
            catch (OperationCanceledException) when (Cancel.IsCancellationRequested) { Result.TrySetCanceled(Cancel); }
            catch (Exception e) { Result.TrySetException(e); }
            return true;
        }
    }
}

/// <summary>What a <see cref="GenerationService"/> has done: completions admitted, finished and cancelled, engine steps run, requests refused as busy.</summary>
public sealed class ServiceStatistics
{
    internal int completed, cancelled, admitted, busy, largest;
    internal long steps, rowSteps, rowIterations, waitingRowIterations;

    /// <summary>Completions that ran to their end.</summary>
    public int Completed => Volatile.Read(ref completed);
    /// <summary>Completions whose caller went away (cancelled or disconnected) before the end.</summary>
    public int Cancelled => Volatile.Read(ref cancelled);
    /// <summary>Completions that joined an engine.</summary>
    public int Admitted => Volatile.Read(ref admitted);
    /// <summary>Engine steps run.</summary>
    public long Steps => Interlocked.Read(ref steps);
    /// <summary>Rows over all steps (÷ <see cref="Steps"/>: the mean rows per step).</summary>
    public long RowSteps => Interlocked.Read(ref rowSteps);
    /// <summary>Engine row-iterations (rows stepped, summed over steps).</summary>
    public long RowIterations => Interlocked.Read(ref rowIterations);
    /// <summary>Of <see cref="RowIterations"/>, those in which a row wrote nothing and only waited on other rows.</summary>
    public long WaitingRowIterations => Interlocked.Read(ref waitingRowIterations);
    /// <summary>The most rows one step ran.</summary>
    public int LargestBatch => Volatile.Read(ref largest);
    /// <summary>Requests refused because the queue was full.</summary>
    public int Busy => Volatile.Read(ref busy);

    internal void Count(ref int counter) => Interlocked.Increment(ref counter);

    internal void Admit() => Interlocked.Increment(ref admitted);

    internal void Step(int size, long iterations, long waiting)
    {
        Interlocked.Increment(ref steps);
        Interlocked.Add(ref rowSteps, size);
        Interlocked.Add(ref rowIterations, iterations);
        Interlocked.Add(ref waitingRowIterations, waiting);
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
